"""Security headers on every response, error pages included (docs/security.md S5, T5)."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


def add_security_headers(response: Response) -> Response:
    # A view may set a stricter policy of its own (the sandboxed email frame does); never a looser one.
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("X-Frame-Options", "DENY")
    # no-referrer everywhere: reset and report links must never leak through a Referer (T5).
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure or current_app.config["PUBLIC_BASE_URL"].startswith("https://"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)

"""Cross-site request refusal that works behind a TLS proxy (docs/security.md S4, T5).

Every page sends `Referrer-Policy: no-referrer` so reset and report links never leak, which means a
browser sends no Referer, and Flask-WTF's strict Referer check for HTTPS would refuse every form. The
CSRF token stays the main protection; instead of the Referer, a state-changing request is refused
when the browser says where it came from and that is another site: `Sec-Fetch-Site` (every current
browser sends it) or, failing that, `Origin`. A client that sends neither (a script, an old browser)
still needs the token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def origin_of(url: str) -> str:
    """scheme://host[:port], lower-cased, the default port left out: how browsers write `Origin`."""
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def from_another_origin(sec_fetch_site: str | None, origin: str | None, own_origins: set[str]) -> bool:
    """True when the browser's own headers show the request was sent from another origin (another site,
    or another host of the same site: `same-site` is refused too)."""
    if sec_fetch_site:
        return sec_fetch_site.strip().lower() not in ("same-origin", "none")
    if origin:
        return origin.strip().lower() not in own_origins
    return False


def refuse_cross_site_posts() -> None:
    if request.method in SAFE_METHODS:
        return
    own = {origin_of(current_app.config["PUBLIC_BASE_URL"]), origin_of(request.host_url)}
    if from_another_origin(request.headers.get("Sec-Fetch-Site"), request.headers.get("Origin"), own):
        current_app.logger.warning("refused a cross-site %s to %s", request.method, request.path)
        abort(400)


def init_app(app: Flask) -> None:
    app.before_request(refuse_cross_site_posts)

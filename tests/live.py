"""Helpers for tests that talk to the service as separate processes over real HTTP."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest


class Browser:
    """A cookie-keeping HTTP client that fills forms the way a browser does (CSRF token included)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=15) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)
        except urllib.error.URLError:
            return 0, "", {}

    def get(self, path: str) -> tuple[int, str]:
        status, page, _headers = self.open(path)
        return status, page

    def submit(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        _status, page, _headers = self.open(path)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        status, answer, _headers = self.open(path, {**data, "csrf_token": token})
        return status, answer


def wait_for(check, what: str, seconds: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns something true (a process starting, a mail arriving)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")

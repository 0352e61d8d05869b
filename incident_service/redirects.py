"""Where a form may send the browser next: a path on this site, never another host (no open redirect)."""

from __future__ import annotations

from urllib.parse import urlsplit


def local_path(target: str | None, *, under: str = "/") -> str | None:
    """`target` if it is a plain path on this site starting with `under`, else None.

    Browsers drop tabs and line breaks inside URLs and read a backslash as a slash, so `/\\t/host` or
    `/\\\\host` would become `//host`, another site: any control character, space or backslash refuses."""
    if not target or any(ord(char) < 0x21 or ord(char) == 0x7F for char in target) or "\\" in target:
        return None
    if not target.startswith(under) or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target

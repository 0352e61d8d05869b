"""Where a webhook may be sent: https in production, and only to public addresses, checked when a
subscription is made and again for every address the name resolves to at each delivery (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from ..domain_errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> every address the name resolves to (socket.getaddrinfo by default; tests inject one).
Resolver = Callable[[str, int], list[str]]


class UnsafeTarget(DomainError):
    """A URL a webhook must not be sent to; `code` says why (pages translate it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


# Why a URL was refused, as codes: pages and the CLI turn them into words.
NOT_A_URL = "not_a_url"
NOT_HTTPS = "not_https"
CREDENTIALS_IN_URL = "credentials_in_url"
UNRESOLVABLE = "unresolvable"
PRIVATE_ADDRESS = "private_address"


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (one of the host's checked addresses) and what to ask for."""

    scheme: str
    host: str  # as written in the URL (the name for TLS and the Host header)
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]  # every address the host resolved to, all checked


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(UNRESOLVABLE, host) from exc
    return sorted({str(info[4][0]) for info in infos})


# NAT64 (RFC 6052's well-known prefix, RFC 8215's local-use one): the last 32 bits are an IPv4 address
# a NAT64 gateway connects to, so 64:ff9b::a9fe:a9fe is 169.254.169.254. Python calls the prefix global.
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _nat64_embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in network for network in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def public(address: IPAddress) -> bool:
    """Not loopback, private, link-local (169.254/16: cloud metadata), multicast, reserved, unspecified,
    shared (100.64/10), nor an IPv4 address hidden inside IPv6 (mapped, 6to4, Teredo, NAT64) that is
    one of those."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
            or _nat64_embedded(address)
        )
        if embedded is not None and not public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
    )


def parse_url(url: str, *, require_https: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an absolute http(s) URL, or UnsafeTarget."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(NOT_A_URL, "unreadable") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(NOT_A_URL, url[:80])
    if require_https and parts.scheme != "https":
        raise UnsafeTarget(NOT_HTTPS)
    if parts.username or parts.password:
        # A secret in the URL would show on every page and log line that shows the URL.
        raise UnsafeTarget(CREDENTIALS_IN_URL)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def check_target(url: str, *, require_https: bool, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """The URL checked now: its scheme and every address its host resolves to (an IP literal is its own)."""
    scheme, host, port, path = parse_url(url, require_https=require_https)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host, port)
    if not addresses:
        raise UnsafeTarget(UNRESOLVABLE, host)
    if not allow_private:
        for text in addresses:
            if not public(ipaddress.ip_address(text.split("%", 1)[0])):
                raise UnsafeTarget(PRIVATE_ADDRESS, f"{host} -> {text}")
    return Target(scheme, host, port, path, tuple(addresses))

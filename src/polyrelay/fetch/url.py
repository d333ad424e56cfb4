"""The checks a URL passes before any I/O: scheme, credentials, port, literal hosts and the
names that need no lookup (metadata hosts, `localhost`).

The URL is parsed with yarl, the parser aiohttp itself uses, so the host we check is the
host aiohttp connects to (a second parser would open a parser-differential hole).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import NamedTuple

from yarl import URL

from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.policy import AddressPolicy, IPAddress, parse_host_ip

__all__ = ["MAX_URL_LENGTH", "Target", "check_url", "refusal"]

MAX_URL_LENGTH = 8192
ALLOW_HINT = "; allow it with fetch.allow in the config"

# The Fetch standard's "bad ports": services an HTTP request could be smuggled into.
_BAD_PORTS = frozenset(
    {1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
     101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
     179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563,
     587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061,
     6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080}
)  # fmt: skip
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
_LOOPBACK = IPv4Address("127.0.0.1")


class Target(NamedTuple):
    """A URL that passed `check_url`: what to request and where to connect."""

    url: URL
    host: str
    """The host as aiohttp hands it to the resolver (IDNA-encoded, lower case)."""
    port: int
    ip: IPAddress | None
    """The address when the host is an IP literal (already checked), else None."""


def refusal(
    url: str, detail: str, *, via: str | None = None, hint: bool = False
) -> InvalidRequestError:
    """The 400 for a refused URL; `via` is the URL that redirected to it."""
    where = f"{url} (redirected from {via})" if via else url
    return InvalidRequestError(
        f"URL refused: {where} {detail}{ALLOW_HINT if hint else ''}", code="url_refused"
    )


def check_url(url: str, policy: AddressPolicy, *, via: str | None = None) -> Target:
    """Everything about `url` that can be checked without I/O; raises InvalidRequestError.

    A numeric IPv4 host in any legacy form is rewritten to dotted form, so what the
    connector sees is the address that was checked.
    """
    parsed = _parse(url, via)
    host = parsed.raw_host or ""
    port = parsed.port
    if port is None or not 0 < port < 65536 or port in _BAD_PORTS:
        raise refusal(url, f"uses port {port}, which is not fetched", via=via)
    try:
        ip = parse_host_ip(host)
    except ValueError:
        raise refusal(url, f"has host {host!r}, which is not a valid address", via=via) from None
    if ip is None:
        if not set(host.lower()) <= _NAME_CHARS:
            raise refusal(url, f"has host {host!r}, which is not a valid host name", via=via)
        reason = policy.check_name(host)
        if reason is not None:
            raise refusal(url, f"names {host}, {reason}", via=via, hint=True)
        name = host.rstrip(".").lower()
        reason = _loopback_name_reason(name, policy)
        if reason is not None:
            raise refusal(url, f"names {host}, {reason}", via=via, hint=True)
        return Target(parsed.with_fragment(None), name, port, None)
    reason = policy.check_ip(ip)
    if reason is not None:
        raise refusal(url, f"is {ip}, {reason}", via=via, hint=True)
    if ip.version == 4 and host != str(ip):
        parsed = parsed.with_host(str(ip))
    return Target(parsed.with_fragment(None), str(ip), port, ip)


def _loopback_name_reason(name: str, policy: AddressPolicy) -> str | None:
    """`localhost` and every `*.localhost` name always mean the loopback address (RFC 6761
    §6.3), so they are checked as 127.0.0.1 is, before any lookup. That matters most for a
    URL passed through to an upstream that fetches it itself: nothing resolves it here."""
    if name != "localhost" and not name.endswith(".localhost"):
        return None
    if policy.name_allowed(name):
        return None
    return policy.check_ip(_LOOPBACK)


def _parse(url: str, via: str | None) -> URL:
    if len(url) > MAX_URL_LENGTH:
        raise refusal(url[:100] + "...", f"is longer than {MAX_URL_LENGTH} characters", via=via)
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise refusal(repr(url), "is not a valid URL", via=via) from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "no scheme"
        raise refusal(url, f"uses {scheme}; only http and https URLs are fetched", via=via)
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise refusal(url, "carries credentials, which are not accepted in fetched URLs", via=via)
    if not parsed.raw_host:
        raise refusal(url, "has no host", via=via)
    return parsed

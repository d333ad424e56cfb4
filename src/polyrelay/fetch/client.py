"""The one URL fetcher for every fetch the server makes on a client's behalf.

Each hop (the URL, then every redirect) is checked, resolved once, and every resolved
address validated; the connector then gets those addresses from a pinned resolver, so the
socket goes to an address that was checked (no second lookup, no DNS rebinding) while the
Host header and TLS SNI keep the host name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from ipaddress import IPv6Address, ip_address

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.body import BodyTooLarge, read_capped
from polyrelay.fetch.policy import AddressPolicy, IPAddress
from polyrelay.fetch.settings import FetchSettings
from polyrelay.fetch.url import Target, check_url, refusal
from polyrelay.media.types import unlabelled

__all__ = ["FetchResult", "Resolve", "UrlFetcher", "system_resolve"]

Resolve = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Looks a host name up: `(host, port) -> addresses`. Injected in tests."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "polyrelay-fetch/1"


class FetchResult(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    """The final URL, after redirects."""
    status: int
    content_type: str
    """The response's media type, lower case, without parameters; "" when absent."""
    body: bytes


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The operating system's lookup, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ip_address(str(sockaddr[0]))
            if address not in addresses:
                addresses.append(address)
    return addresses


class _PinnedResolver(AbstractResolver):
    """Answers only for hosts whose addresses were validated for this fetch."""

    def __init__(self) -> None:
        self._pins: dict[tuple[str, int], list[ResolveResult]] = {}

    def pin(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        self._pins[(host, port)] = [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if isinstance(address, IPv6Address) else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        pinned = self._pins.get((host.rstrip(".").lower(), port))
        if pinned is None:
            raise OSError(f"{host}:{port} was not validated before connecting")
        if family == socket.AF_UNSPEC:
            return pinned
        return [result for result in pinned if result["family"] == family]

    async def close(self) -> None:
        self._pins.clear()


class UrlFetcher:
    """Fetches client-supplied URLs under the address policy and the configured limits."""

    def __init__(
        self, policy: AddressPolicy, settings: FetchSettings, resolver: Resolve | None = None
    ) -> None:
        self._policy = policy
        self._settings = settings
        self._resolve = resolver or system_resolve

    @property
    def settings(self) -> FetchSettings:
        return self._settings

    @classmethod
    def from_settings(cls, settings: FetchSettings, resolver: Resolve | None = None) -> UrlFetcher:
        return cls(settings.policy(), settings, resolver)

    def check_url(self, url: str) -> None:
        """Refuse what can be refused without I/O (scheme, credentials, port, literal IPs)."""
        check_url(url, self._policy)

    async def fetch(self, url: str, *, accept: Collection[str] | None = None) -> FetchResult:
        """GET `url`, following up to `max_redirects` checked redirects.

        `accept` lists media types (`image/png`) or ranges (`image/*`); a response of any
        other type is refused, but one without a type or with a generic binary type
        (`media.types.unlabelled`) is let through for the caller to type by its bytes.
        Every refusal and failure is an InvalidRequestError (400) whose message says why.
        """
        return await self._run(url, lambda session, pins: self._follow(session, pins, url, accept))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> FetchResult:
        """POST `body` to `url` under the same address rules and pinned resolution as
        `fetch`. Redirects are never followed: a 3xx comes back as the result, for the
        caller to treat as a failure (webhooks). Refusals and failures raise as in `fetch`."""

        async def send(session: aiohttp.ClientSession, pins: _PinnedResolver) -> FetchResult:
            target = check_url(url, self._policy)
            await self._admit(target, pins, url, None)
            sent = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **headers}
            async with session.post(
                target.url, data=body, headers=sent, allow_redirects=False
            ) as resp:
                content_type = _media_type(resp.headers.get("Content-Type", ""))
                answer = await self._read_capped(url, resp)
                return FetchResult(
                    url=url, status=resp.status, content_type=content_type, body=answer
                )

        return await self._run(url, send)

    async def check_address(self, url: str) -> None:
        """Refuse `url` now if a request to it would be refused (its host is resolved)."""
        await self._admit(check_url(url, self._policy), _PinnedResolver(), url, None)

    async def _run(
        self,
        url: str,
        work: Callable[[aiohttp.ClientSession, _PinnedResolver], Awaitable[FetchResult]],
    ) -> FetchResult:
        settings = self._settings
        pins = _PinnedResolver()
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        connector = aiohttp.TCPConnector(resolver=pins, use_dns_cache=False)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        async with session:
            try:
                async with asyncio.timeout(settings.total_timeout):
                    return await work(session, pins)
            except aiohttp.ConnectionTimeoutError:
                raise _failure(
                    url, f"timed out connecting after {settings.connect_timeout}s"
                ) from None
            except aiohttp.SocketTimeoutError:
                raise _failure(url, f"sent nothing for {settings.read_timeout}s") from None
            except TimeoutError:
                raise _failure(url, f"did not finish within {settings.total_timeout}s") from None
            except aiohttp.ClientError as exc:
                raise _failure(url, f"could not be fetched ({_describe(exc)})") from None

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        pins: _PinnedResolver,
        url: str,
        accept: Collection[str] | None,
    ) -> FetchResult:
        current, via = url, None
        headers = {
            "User-Agent": _USER_AGENT,
            "Accept": ", ".join(accept) if accept else "*/*",
            "Accept-Encoding": "identity",
        }
        for _hop in range(self._settings.max_redirects + 1):
            target = check_url(current, self._policy, via=via)
            await self._admit(target, pins, current, via)
            async with session.get(target.url, allow_redirects=False, headers=headers) as resp:
                if resp.status not in _REDIRECTS:
                    return await self._result(current, resp, accept)
                via, current = current, _location(current, resp)
        raise refusal(url, f"redirects more than {self._settings.max_redirects} times")

    async def _admit(
        self, target: Target, pins: _PinnedResolver, url: str, via: str | None
    ) -> None:
        """Resolve the host once, validate every address, and pin them for the connector."""
        if target.ip is not None:
            return
        try:
            addresses = list(await self._resolve(target.host, target.port))
        except OSError:
            addresses = []
        if not addresses:
            raise refusal(url, f"names {target.host}, which does not resolve", via=via)
        if not self._policy.name_allowed(target.host):
            for address in addresses:
                reason = self._policy.check_ip(address)
                if reason is not None:
                    detail = f"resolves to {address}, {reason}"
                    raise refusal(url, detail, via=via, hint=True)
        pins.pin(target.host, target.port, addresses)

    async def _result(
        self, url: str, resp: aiohttp.ClientResponse, accept: Collection[str] | None
    ) -> FetchResult:
        if not 200 <= resp.status < 300:
            raise _failure(url, f"answered HTTP {resp.status}")
        content_type = _media_type(resp.headers.get("Content-Type", ""))
        if accept is not None and not _accepted(content_type, accept):
            shown = content_type or "no content type"
            raise refusal(url, f"returned {shown}, expected {', '.join(sorted(accept))}")
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise refusal(url, f"returned a {encoding}-encoded body, which is not accepted")
        body = await self._read_capped(url, resp)
        return FetchResult(url=url, status=resp.status, content_type=content_type, body=body)

    async def _read_capped(self, url: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._settings.max_bytes
        try:
            return await read_capped(resp, limit)
        except BodyTooLarge:
            raise refusal(url, f"is larger than the {limit}-byte limit (fetch.max_bytes)") from None


def _location(url: str, resp: aiohttp.ClientResponse) -> str:
    location = resp.headers.get("Location")
    if not location:
        raise _failure(url, f"answered HTTP {resp.status} without a Location")
    try:
        return str(URL(url).join(URL(location)))
    except ValueError:
        raise _failure(url, f"redirected to an invalid URL {location!r}") from None


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def _accepted(content_type: str, accept: Collection[str]) -> bool:
    # Bytes sent unlabelled (no type, or a generic binary one) may be examined for their
    # type (RFC 9110 8.3): the caller types them by their bytes.
    if unlabelled(content_type):
        return True
    major = content_type.split("/", 1)[0]
    return any(
        pattern in ("*/*", content_type, f"{major}/*")
        for pattern in (item.strip().lower() for item in accept)
    )


def _failure(url: str, detail: str) -> InvalidRequestError:
    return InvalidRequestError(f"URL fetch failed: {url} {detail}", code="url_fetch_failed")


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    return type(exc).__name__ if not str(exc) else str(exc)

"""Configuration of the hardened URL fetcher (the `fetch:` section of the config file)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from polyrelay.fetch.policy import AddressPolicy

__all__ = ["DEFAULT_MAX_BYTES", "FetchSettings"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class FetchSettings(msgspec.Struct, frozen=True, kw_only=True):
    allow: tuple[str, ...] = ()
    """CIDRs (`10.1.0.0/16`, `fd00::/8`), single addresses or host names (`*.corp.example`
    matches sub-domains) that may be fetched although the default policy refuses them."""
    max_bytes: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MAX_BYTES
    connect_timeout: Seconds = 10.0
    read_timeout: Seconds = 30.0
    """Longest wait for the next bytes of the response."""
    total_timeout: Seconds = 120.0
    """Bound on the whole fetch, redirects included, so a trickling server cannot hold it."""
    max_redirects: Annotated[int, msgspec.Meta(ge=0, le=20)] = 5
    max_per_request: Annotated[int, msgspec.Meta(ge=1)] = 100
    """URLs fetched for one request's media, at most (Anthropic takes 100 images a request):
    one request must not make the gateway fetch without end."""
    max_total_bytes: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MAX_TOTAL_BYTES
    """Bytes fetched for one request's media, all URLs together, at most."""

    def __post_init__(self) -> None:
        AddressPolicy(self.allow)  # raises ValueError naming a malformed entry at load time

    def policy(self) -> AddressPolicy:
        return AddressPolicy(self.allow)

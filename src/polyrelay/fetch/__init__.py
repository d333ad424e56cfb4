"""The hardened URL fetcher: every fetch the server makes on a client's behalf goes here."""

from __future__ import annotations

from polyrelay.fetch.client import FetchResult, Resolve, UrlFetcher, system_resolve
from polyrelay.fetch.policy import AddressPolicy, IPAddress, classify_ip, parse_host_ip
from polyrelay.fetch.settings import FetchSettings
from polyrelay.fetch.url import Target, check_url

__all__ = [
    "AddressPolicy",
    "FetchResult",
    "FetchSettings",
    "IPAddress",
    "Resolve",
    "Target",
    "UrlFetcher",
    "check_url",
    "classify_ip",
    "parse_host_ip",
    "system_resolve",
]

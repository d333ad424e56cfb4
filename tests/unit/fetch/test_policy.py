"""The SSRF corpus: URLs the fetcher must refuse, each for the right reason, and the ones
it must let through (public addresses, the operator's allow-list)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address

import pytest

from polyrelay.errors import InvalidRequestError
from polyrelay.fetch.client import UrlFetcher
from polyrelay.fetch.policy import (
    AddressPolicy,
    IPAddress,
    classify_ip,
    parse_host_ip,
    parse_ipv4_literal,
)
from polyrelay.fetch.settings import FetchSettings
from polyrelay.fetch.url import check_url

HINT = "allow it with fetch.allow in the config"

REFUSED_LITERALS = [
    # IPv4 ranges
    ("http://127.0.0.1/", "is 127.0.0.1, a loopback address"),
    ("http://127.255.0.9:8080/x", "a loopback address"),
    ("http://10.0.0.1/", "is 10.0.0.1, a private address"),
    ("http://172.16.5.4/", "a private address"),
    ("http://172.31.255.255/", "a private address"),
    ("http://192.168.1.1/", "a private address"),
    ("http://169.254.1.1/", "a link-local address"),
    ("http://100.64.0.1/", "a carrier-grade NAT (CGNAT) address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://192.0.2.1/", "a reserved address"),
    ("http://198.18.0.1/", "a reserved address"),
    ("http://0.0.0.0/", "an unspecified ('this network') address"),
    ("http://255.255.255.255/", "the broadcast address"),
    # cloud metadata
    ("http://169.254.169.254/latest/meta-data/", "is 169.254.169.254, a cloud metadata address"),
    ("http://100.100.100.200/latest/meta-data/", "a cloud metadata address"),
    ("http://169.254.170.2/v2/credentials", "a cloud metadata address"),
    ("http://[fd00:ec2::254]/latest/", "is fd00:ec2::254, a cloud metadata address"),
    ("http://metadata.google.internal/computeMetadata/v1/", "a cloud metadata host name"),
    ("http://METADATA.google.internal./", "a cloud metadata host name"),
    # loopback names, which need no lookup (RFC 6761)
    ("http://localhost:8000/admin.png", "names localhost, a loopback address"),
    ("http://LocalHost./", "names localhost., a loopback address"),
    ("http://foo.localhost:8000/a.png", "names foo.localhost, a loopback address"),
    ("http://a.b.LOCALHOST../", "a loopback address"),
    # localhost in fullwidth letters, which IDNA maps to ASCII
    ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "names localhost, a"),
    # numeric IPv4 forms
    ("http://2130706433/", "is 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/", "is 127.0.0.1, a loopback address"),
    ("http://0x7f.1/", "is 127.0.0.1, a loopback address"),
    ("http://127.1/", "is 127.0.0.1, a loopback address"),
    ("http://0x7f000001/", "is 127.0.0.1, a loopback address"),
    ("http://017700000001/", "is 127.0.0.1, a loopback address"),
    ("http://0xA9.0xFE.0xA9.0xFE/", "is 169.254.169.254, a cloud metadata address"),
    ("http://2852039166/", "is 169.254.169.254, a cloud metadata address"),
    ("http://3232235777/", "is 192.168.1.1, a private address"),
    ("http://0/", "is 0.0.0.0"),
    ("http://127.0.0.1./", "a loopback address"),
    # IPv6 forms
    ("http://[::1]/", "is ::1, a loopback address"),
    ("http://[::]/", "is ::, an unspecified address"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "embedding 169.254.169.254, a cloud metadata address"),
    ("http://[0:0:0:0:0:ffff:10.0.0.1]/", "IPv4-mapped IPv6 address embedding 10.0.0.1"),
    ("http://[64:ff9b::10.0.0.1]/", "NAT64 IPv6 address embedding 10.0.0.1, a private address"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 IPv6 address embedding 127.0.0.1"),
    ("http://[2002:c0a8:101::1]/", "6to4 IPv6 address embedding 192.168.1.1, a private address"),
    ("http://[2002:a9fe:a9fe::]/", "6to4 IPv6 address embedding 169.254.169.254"),
    ("http://[::127.0.0.1]/", "IPv4-compatible IPv6 address embedding 127.0.0.1"),
    ("http://[fc00::1]/", "a unique-local (private) address"),
    ("http://[fd12:3456:789a::1]/", "a unique-local (private) address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[fe80::1%25eth0]/", "a link-local address"),
    ("http://[fec0::1]/", "a site-local (private) address"),
    ("http://[ff02::1]/", "a multicast address"),
    ("http://[2001:db8::1]/", "a reserved address"),
    ("http://[64:ff9b:1::a00:1]/", "a local-use NAT64 (private) address"),
]

REFUSED_OTHER = [
    ("ftp://example.com/file", "uses ftp; only http and https"),
    ("file:///etc/passwd", "uses file; only http and https"),
    ("gopher://example.com:70/_x", "uses gopher"),
    ("//example.com/x", "uses no scheme"),
    ("http://user:secret@example.com/", "carries credentials"),
    ("http://user@example.com/", "carries credentials"),
    ("http://example.com:22/", "uses port 22"),
    ("http://example.com:25/", "uses port 25"),
    ("http://example.com:0/", "uses port 0"),
    ("http://1.2.3.4.5/", "which is not a valid address"),
    ("http://256.1.1.1/", "which is not a valid address"),
    ("http://08.0.0.1/", "which is not a valid address"),
    ("http:///path", "has no host"),
    ("http://exa mple.com/", "which is not a valid host name"),
    ("http://ex%41mple.com/", "which is not a valid host name"),
    ("http://[::1/", "is not a valid URL"),
    ("http://example.com:99999/", "is not a valid URL"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_LITERALS)
def test_refused_address(url: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_url(url, AddressPolicy())
    error = info.value
    assert error.status == 400
    assert error.message.startswith(f"URL refused: {url} ")
    assert reason in error.message
    assert error.message.endswith(HINT)


@pytest.mark.parametrize(("url", "reason"), REFUSED_OTHER)
def test_refused_url_shape(url: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_url(url, AddressPolicy())
    assert info.value.status == 400
    assert info.value.message.startswith("URL refused: ")
    assert reason in info.value.message


def test_the_corpus_is_large_enough() -> None:
    assert len(REFUSED_LITERALS) + len(REFUSED_OTHER) >= 25


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/",
        "https://1.1.1.1:8443/dns-query",
        "http://134744072/",  # 8.8.8.8 in decimal
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
        "http://[64:ff9b::808:808]/",  # NAT64 of a public address
        "https://example.com/image.png",  # names are checked after resolution
        "https://xn--mnchen-3ya.de/",
        "http://localhost.example.com/",  # only the localhost domain itself is loopback
        "http://notlocalhost/",
        "http://localhost-1.example/",
    ],
)
def test_public_urls_pass_the_pre_check(url: str) -> None:
    check_url(url, AddressPolicy())


def test_numeric_forms_are_rewritten_to_the_checked_address() -> None:
    target = check_url("http://134744072:8080/a?b#c", AddressPolicy())
    assert str(target.url) == "http://8.8.8.8:8080/a?b"
    assert target.ip == IPv4Address("8.8.8.8")
    assert target.port == 8080


@pytest.mark.parametrize(
    ("allow", "url"),
    [
        (("10.0.0.0/8",), "http://10.1.2.3/"),
        (("10.0.0.0/8",), "http://[::ffff:10.1.2.3]/"),
        (("127.0.0.1/32",), "http://2130706433/"),
        (("127.0.0.1",), "http://0x7f.0.0.1/"),
        (("fd00::/8",), "http://[fd12::1]/"),
        (("[::1]",), "http://[::1]:8080/"),
        (("169.254.169.254/32",), "http://169.254.169.254/"),
        (("metadata.google.internal",), "http://metadata.google.internal/"),
        (("*.google.internal",), "http://metadata.google.internal/"),
        (("localhost",), "http://LOCALHOST.:8080/"),
        (("*.localhost",), "http://app.localhost/"),
        (("127.0.0.0/8",), "http://localhost/"),
    ],
)
def test_allow_list_admits(allow: tuple[str, ...], url: str) -> None:
    check_url(url, AddressPolicy(allow))


@pytest.mark.parametrize(
    ("allow", "url", "reason"),
    [
        (("10.0.0.0/8",), "http://192.168.1.1/", "a private address"),
        (("10.0.0.0/8",), "http://[fd00::1]/", "a unique-local (private) address"),
        (("127.0.0.2/32",), "http://127.0.0.1/", "a loopback address"),
        (("*.google.internal",), "http://169.254.169.254/", "a cloud metadata address"),
        (("google.internal",), "http://metadata.google.internal/", "a cloud metadata host name"),
        (("localhost",), "http://app.localhost/", "a loopback address"),
        (("127.0.0.2/32",), "http://localhost/", "a loopback address"),
    ],
)
def test_allow_list_is_narrow(allow: tuple[str, ...], url: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape(reason)):
        check_url(url, AddressPolicy(allow))


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.2.3", "fe80::zz", "a b", "", "x/y"])
def test_malformed_allow_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ValueError, match=r"^fetch\.allow: "):
        AddressPolicy((entry,))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("1.256", "1.0.1.0"),
        ("0x", "0.0.0.0"),
        ("8.8.8.8.", "8.8.8.8"),
        ("example.com", None),
        ("1.2.3.example", None),
        ("0xg.com", None),
    ],
)
def test_ipv4_literal_forms(host: str, expected: str | None) -> None:
    parsed = parse_ipv4_literal(host)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "4294967296", "1.2.3.256", "09", "0x100000000", "1..2"]
)
def test_malformed_numeric_hosts_are_errors(host: str) -> None:
    with pytest.raises(ValueError):
        parse_host_ip(host)


def test_classify_ip_without_policy() -> None:
    assert classify_ip(ip_address("8.8.4.4")) is None
    assert classify_ip(ip_address("10.9.8.7")) == "a private address"


class FakeResolver:
    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        return [ip_address(a) for a in self.answers[host]]


def _fetch_error(url: str, answers: dict[str, Sequence[str]], allow: tuple[str, ...] = ()) -> str:
    fetcher = UrlFetcher(AddressPolicy(allow), FetchSettings(allow=allow), FakeResolver(answers))
    with pytest.raises(InvalidRequestError) as info:
        asyncio.run(fetcher.fetch(url))
    assert info.value.status == 400
    return info.value.message


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["8.8.8.8", "10.0.0.7"], "resolves to 10.0.0.7, a private address"),
        (["2606:4700::1", "::1"], "resolves to ::1, a loopback address"),
        (["::ffff:169.254.169.254"], "embedding 169.254.169.254, a cloud metadata address"),
        (["fd00:ec2::254"], "resolves to fd00:ec2::254, a cloud metadata address"),
    ],
)
def test_every_resolved_address_is_checked(answers: list[str], reason: str) -> None:
    message = _fetch_error("http://evil.example/x", {"evil.example": answers})
    assert message.startswith("URL refused: http://evil.example/x resolves to ")
    assert reason in message
    assert message.endswith(HINT)


def test_unresolvable_host_is_refused() -> None:
    message = _fetch_error("https://nowhere.example/", {})
    assert "names nowhere.example, which does not resolve" in message


def test_fetcher_pre_check_needs_no_io() -> None:
    fetcher = UrlFetcher(AddressPolicy(), FetchSettings(), FakeResolver({}))
    fetcher.check_url("https://example.com/a.png")
    with pytest.raises(InvalidRequestError, match="a private address"):
        fetcher.check_url("http://10.0.0.1/")

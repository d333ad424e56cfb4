"""Which addresses the server may connect to when it fetches a URL on a client's behalf.

Everything that is not a public unicast address is refused unless the operator allow-lists
it: loopback, private, link-local, CGNAT, multicast, reserved and the cloud metadata
endpoints, in IPv4 and IPv6, including IPv6 forms that embed an IPv4 address (mapped,
NAT64, 6to4, Teredo). Host literals are parsed the way `inet_aton` and browsers parse them,
so `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` are all 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

__all__ = [
    "AddressPolicy",
    "IPAddress",
    "classify_ip",
    "parse_host_ip",
    "parse_ipv4_literal",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_METADATA = "a cloud metadata address"
_PRIVATE = "a private address"
_RESERVED = "a reserved address"

# Most specific first: the metadata hosts sit inside link-local and CGNAT ranges.
_V4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(cidr), reason)
    for cidr, reason in (
        ("169.254.169.254/32", _METADATA),
        ("169.254.170.2/32", _METADATA),  # ECS task metadata
        ("100.100.100.200/32", _METADATA),  # Alibaba Cloud
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", _PRIVATE),
        ("172.16.0.0/12", _PRIVATE),
        ("192.168.0.0/16", _PRIVATE),
        ("169.254.0.0/16", "a link-local address"),
        ("100.64.0.0/10", "a carrier-grade NAT (CGNAT) address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", _RESERVED),
        ("192.0.0.0/24", _RESERVED),
        ("192.0.2.0/24", _RESERVED),
        ("192.88.99.0/24", _RESERVED),
        ("198.18.0.0/15", _RESERVED),
        ("198.51.100.0/24", _RESERVED),
        ("203.0.113.0/24", _RESERVED),
    )
)

_V6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(cidr), reason)
    for cidr, reason in (
        ("fd00:ec2::254/128", _METADATA),  # AWS over IPv6
        ("::1/128", "a loopback address"),
        ("::/128", "an unspecified address"),
        ("::/96", "a deprecated IPv4-compatible (reserved) address"),
        ("64:ff9b:1::/48", "a local-use NAT64 (private) address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local (private) address"),
        ("ff00::/8", "a multicast address"),
        ("2001:db8::/32", _RESERVED),
        ("3fff::/20", _RESERVED),
        ("100::/64", _RESERVED),
    )
)

_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_NAT64 = IPv6Network("64:ff9b::/96")
_SIIT = IPv6Network("::ffff:0:0:0/96")
_COMPATIBLE = IPv6Network("::/96")

_METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)


def _parse_ipv4_part(part: str) -> int:
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    # int() alone would also take signs, spaces and underscores.
    if not digits or any(c not in _DIGITS[base] for c in digits):
        raise ValueError(part)
    return int(digits, base)


def _ends_in_number(last: str) -> bool:
    if last[:2].lower() == "0x":
        return all(c in _DIGITS[16] for c in last[2:])
    return all(c in _DIGITS[10] for c in last)


def parse_ipv4_literal(host: str) -> IPv4Address | None:
    """Parse `host` as the WHATWG URL standard (and `inet_aton`) would parse an IPv4 host.

    Returns None when the host does not end in a number, so it is a domain name. Raises
    ValueError when it does but is not a valid address (such a host is never a domain).
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts or parts[-1] == "" or not _ends_in_number(parts[-1]):
        return None
    if len(parts) > 4 or "" in parts:
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    try:
        numbers = [_parse_ipv4_part(part) for part in parts]
    except ValueError:
        raise ValueError(f"{host!r} is not a valid IPv4 address") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is out of the IPv4 range")
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def parse_host_ip(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None for a domain name. Raises ValueError."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return IPv6Address(host)
    return parse_ipv4_literal(host)


def _embedded_v4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "a 6to4", ip.sixtofour
    if ip.teredo is not None:
        return "a Teredo", ip.teredo[1]
    low = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return "a NAT64", low
    if ip in _SIIT:
        return "an IPv4-translated", low
    if ip in _COMPATIBLE and int(ip) > 1:
        return "an IPv4-compatible", low
    return None


def _lookup(ip: IPAddress) -> str | None:
    if isinstance(ip, IPv4Address):
        for net4, reason in _V4_RANGES:
            if ip in net4:
                return reason
    else:
        for net6, reason in _V6_RANGES:
            if ip in net6:
                return reason
    return None if ip.is_global else _RESERVED


def classify_ip(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address ("a private address", ...), or None if it is."""
    return AddressPolicy().check_ip(ip)


class AddressPolicy:
    """The refusal rules plus the operator's allow-list of networks and host names.

    An allow entry is a CIDR (`10.1.0.0/16`), a single address, a host name (`intranet`),
    or `*.suffix` for every sub-domain of `suffix`. An allow-listed host name is trusted
    whatever it resolves to; an allow-listed network admits the addresses inside it.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for entry in allow:
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
            elif entry.startswith("*."):
                suffixes.append("." + _normalise_name(entry[2:]))
            else:
                names.add(_normalise_name(entry))
        self._networks = tuple(networks)
        self._names = frozenset(names)
        self._suffixes = tuple(suffixes)

    def ip_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._networks)

    def name_allowed(self, host: str) -> bool:
        name = _normalise_name(host)
        return name in self._names or name.endswith(self._suffixes)

    def check_ip(self, ip: IPAddress) -> str | None:
        """None when `ip` may be fetched, else the reason it may not."""
        if self.ip_allowed(ip):
            return None
        if isinstance(ip, IPv6Address):
            if ip.scope_id:
                ip = IPv6Address(int(ip))
            embedded = _embedded_v4(ip)
            if embedded is not None:
                label, inner = embedded
                inner_reason = self.check_ip(inner)
                if inner_reason is not None:
                    return f"{label} IPv6 address embedding {inner}, {inner_reason}"
                if ip.ipv4_mapped is not None:
                    return None  # the socket connects to the IPv4 address itself
        return _lookup(ip)

    def check_name(self, host: str) -> str | None:
        """Refusals by name alone, before any lookup (the metadata host names)."""
        name = _normalise_name(host)
        if self.name_allowed(name) or name not in _METADATA_NAMES:
            return None
        return "a cloud metadata host name"


def _normalise_name(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _parse_network(entry: str) -> IPNetwork | None:
    text = entry.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:].replace("]", "", 1)
    if "/" in text or ":" in text:
        try:
            return ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"fetch.allow: {entry!r} is not a valid network") from None
    try:
        literal = parse_ipv4_literal(text)
    except ValueError:
        raise ValueError(f"fetch.allow: {entry!r} is not a valid address") from None
    if literal is not None:
        return IPv4Network(literal)
    if not text or any(c.isspace() or c in "/@?#" for c in text):
        raise ValueError(f"fetch.allow: {entry!r} is not a host name or network")
    return None

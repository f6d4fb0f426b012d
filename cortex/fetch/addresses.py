"""Which addresses a fetch may reach: public ones, plus an allow-list; never cloud metadata.

Every form a host can take is read as the resolver reads it (IPv6 transition forms, legacy integer and
octal IPv4), so no spelling of an internal address slips through as a "name".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from cortex.fetch.errors import BadScheme, BadUrl, BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}

# Instance metadata services hand out cloud credentials: refused even when an allowed network covers them.
CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle IMDS
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address, so is_global alone would let it through)
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)

_BLOCKED_IPV4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "unspecified ('this network') address"),
        ("10.0.0.0/8", "private address (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT address (RFC 6598)"),
        ("127.0.0.0/8", "loopback address"),
        ("169.254.0.0/16", "link-local address"),
        ("172.16.0.0/12", "private address (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignment (reserved)"),
        ("192.0.2.0/24", "documentation address (TEST-NET-1)"),
        ("192.88.99.0/24", "reserved address (deprecated 6to4 relay anycast)"),
        ("192.168.0.0/16", "private address (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking address (RFC 2544)"),
        ("198.51.100.0/24", "documentation address (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation address (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast address"),
        ("240.0.0.0/4", "reserved address"),  # includes the 255.255.255.255 broadcast address
    )
)

_BLOCKED_IPV6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(network), reason)
    for network, reason in (
        ("::/128", "unspecified address"),
        ("::1/128", "loopback address"),
        ("64:ff9b:1::/48", "local-use NAT64 address (RFC 8215)"),
        ("100::/64", "discard-only address (RFC 6666)"),
        ("2001:2::/48", "benchmarking address (RFC 5180)"),
        ("2001:db8::/32", "documentation address (RFC 3849)"),
        ("3fff::/20", "documentation address (RFC 9637)"),
        ("fc00::/7", "unique local (private) address"),
        ("fe80::/10", "link-local address"),
        ("fec0::/10", "site-local address (deprecated)"),
        ("ff00::/8", "multicast address"),
    )
)

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# One part of a legacy inet_aton() address: hexadecimal, octal (leading 0) or decimal.
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_ip(value: str | IPAddress) -> IPAddress:
    """An address from a literal (brackets and IPv6 zone dropped); ValueError when it is not one."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address: IPAddress = value
    else:
        address = ipaddress.ip_address(value.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    return address


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The address BSD/glibc ``inet_aton`` (and so ``getaddrinfo``) reads from ``2130706433``, ``0x7f.1``…"""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(part) for part in parts):
        return None
    numbers = [
        int(part, 16) if part[:2].lower() == "0x" else int(part, 8) if part[:1] == "0" else int(part) for part in parts
    ]
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_host_ip(host: str) -> IPAddress | None:
    """The address a URL host denotes without DNS: an IPv4/IPv6 literal or a legacy integer form, else None."""
    candidate = host.strip("[]")
    if len(candidate) > 1 and candidate.endswith("."):  # "127.0.0.1." resolves like "127.0.0.1"
        candidate = candidate[:-1]
    try:
        return parse_ip(candidate)
    except ValueError:
        return _inet_aton(candidate)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str, bool] | None:
    """The IPv4 address an IPv6 transition form carries, its form's name, and whether it decides alone."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_MAPPED:
        return low32, "IPv4-mapped", True
    if address in _IPV4_TRANSLATED:
        return low32, "IPv4-translated", True
    if address in _NAT64_WELL_KNOWN:
        return low32, "NAT64", True
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        return low32, "IPv4-compatible", True
    if address.sixtofour is not None:
        return address.sixtofour, "6to4", False
    if address.teredo is not None:
        return address.teredo[1], "Teredo", False
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is not public (refused unless allow-listed), or None when it is public."""
    if address in CLOUD_METADATA_ADDRESSES:
        return "cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner, form, decides = embedded
            inner_reason = blocked_reason(inner)
            if inner_reason is not None:
                return f"{inner_reason} ({inner}) in {form} form"
            if decides:
                return None
        table: Iterable[tuple[IPNetwork, str]] = _BLOCKED_IPV6
    else:
        table = _BLOCKED_IPV4
    for network, reason in table:
        if address in network:
            return reason
    if not address.is_global:
        return "address that is not globally routable"
    return None


@dataclass(frozen=True)
class Target:
    """A URL that passed :meth:`AddressPolicy.check_url`, split into what the fetcher needs."""

    url: httpx.URL
    scheme: str
    host: str  # lower-case, IDNA-encoded, IPv6 without brackets
    port: int  # explicit or the scheme's default
    ip: IPAddress | None  # set when the host is an address literal (including integer forms)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a fetch may connect to: public ones, plus the allow-listed networks and host names."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()  # exact names; ".example.internal" also admits its subdomains

    @classmethod
    def from_allow_list(cls, entries: Iterable[str]) -> AddressPolicy:
        """Build from settings entries: CIDRs or bare IPs become networks, anything else a host name."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_networks=tuple(networks), allow_hosts=frozenset(hosts))

    def _host_allowed(self, host: str | None) -> bool:
        if not host or not self.allow_hosts:
            return False
        name = host.lower().rstrip(".")
        return name in self.allow_hosts or any(
            entry.startswith(".") and (name.endswith(entry) or name == entry[1:]) for entry in self.allow_hosts
        )

    def check_ip(self, ip: str | IPAddress, *, host: str | None = None) -> None:
        """Raise BlockedAddress unless ``ip`` (reached for ``host``) is public or allow-listed."""
        try:
            address = parse_ip(ip)
        except ValueError as exc:
            raise BlockedAddress(f"{ip!r} is not an IP address", address=str(ip), reason="not an address") from exc
        reason = blocked_reason(address)
        if reason is None:
            return
        allowed = self._host_allowed(host) or any(
            address.version == network.version and address in network for network in self.allow_networks
        )
        if not allowed or address in CLOUD_METADATA_ADDRESSES:
            raise BlockedAddress(f"{address} is blocked: {reason}", address=str(address), reason=reason)

    def check_url(self, url: str | httpx.URL) -> Target:
        """Refuse non-http(s) schemes, credentials, empty hosts, and hosts that are forbidden address literals."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise BadUrl(f"not a valid URL: {exc}", url=str(url)) from exc
        scheme = parsed.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise BadScheme(f"{scheme or 'missing'} scheme: only http and https URLs are fetched", url=str(url))
        if parsed.userinfo:
            raise BadUrl("URLs with a user name or password are refused", url=str(url))
        host = parsed.raw_host.decode("ascii").lower()
        if not host:
            raise BadUrl("the URL has no host", url=str(url))
        ip = parse_host_ip(host)
        if ip is not None:
            try:
                self.check_ip(ip, host=host)
            except BlockedAddress as exc:
                raise BlockedAddress(exc.message, url=str(url), address=exc.address, reason=exc.reason) from None
        return Target(url=parsed, scheme=scheme, host=host, port=parsed.port or DEFAULT_PORTS[scheme], ip=ip)

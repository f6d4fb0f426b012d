"""Fetch URLs for the crawler and for URL uploads without letting a URL reach into our own network (SSRF).

Every hop is checked before anything is sent: the scheme, the absence of credentials, and every address
the host resolves to (:class:`AddressPolicy`). The connection is then pinned to the checked address — the
request goes to the IP, with the original ``Host`` header and TLS SNI — so a DNS answer that changes
between the check and the connect (DNS rebinding) cannot send us elsewhere. Redirects are followed by
hand and each one is checked the same way; bodies are capped after decompression, so a gzip bomb stops
at the limit too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from cortex.errors import CortexError

if TYPE_CHECKING:
    from cortex.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``; the default asks the OS resolver (``loop.getaddrinfo``).
Resolver = Callable[[str, int], Awaitable[list[str]]]

USER_AGENT = "CortexBot/0.1 (+https://github.com/cortex)"
# 20 MiB: a long HTML page or a sizeable PDF, small enough to hold in a job's memory.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# 30 s for a whole fetch (DNS, redirects, body): a slow site must not stall a crawl.
DEFAULT_TIMEOUT_S = 30.0
# 10 s to open a TCP/TLS connection: far above a healthy handshake, even across continents.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
# 20 s without a byte from the server means it has stalled.
DEFAULT_READ_TIMEOUT_S = 20.0
# 5 hops: enough for real chains (http->https, www., trailing slash) and ends a loop quickly.
DEFAULT_MAX_REDIRECTS = 5
# A crawl stays on one site and an upload touches one or two hosts; 16 keeps a few warm without hoarding.
_MAX_CLIENTS = 16

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Sent to the original host only: never forwarded to another origin after a redirect.
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


# -- errors ----------------------------------------------------------------------------------------------


class FetchError(CortexError):
    """A URL could not be fetched; ``code`` names the reason in one word callers can store."""

    status_code = 502
    code = "fetch_error"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class BlockedAddress(FetchError):
    """The URL's host is (or resolves to) an address the policy forbids: private, loopback, metadata…"""

    status_code = 422
    code = "blocked_address"

    def __init__(self, message: str, *, url: str | None = None, address: str = "", reason: str = "") -> None:
        super().__init__(message, url=url)
        self.address = address
        self.reason = reason


class BadScheme(FetchError):
    """Only http and https URLs are fetched."""

    status_code = 422
    code = "bad_scheme"


class BadUrl(FetchError):
    """The URL cannot be fetched as written: unparseable, no host, or credentials in it."""

    status_code = 422
    code = "bad_url"


class ResponseTooLarge(FetchError):
    """The (decoded) body is larger than the limit; the download was aborted."""

    status_code = 413
    code = "too_large"


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect loop."""

    code = "too_many_redirects"


class FetchTimeout(FetchError):
    """Connecting, reading, or the whole fetch took longer than allowed."""

    status_code = 504
    code = "timeout"


class ConnectionFailed(FetchError):
    """The host did not resolve, refused the connection, or broke the HTTP exchange."""

    code = "connection"


class HttpStatusError(FetchError):
    """The server answered with a 4xx/5xx status (``.status``)."""

    code = "http_status"

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.status = status


class UnsupportedContentType(FetchError):
    """The response's media type is not one the caller accepts; the body was not downloaded."""

    status_code = 415
    code = "content_type"

    def __init__(self, message: str, *, content_type: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.content_type = content_type


class BadResponse(FetchError):
    """The response could not be decoded (unknown or corrupt content encoding)."""

    code = "bad_response"


# -- address policy -------------------------------------------------------------------------------------

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


def _parse_ip(value: str | IPAddress) -> IPAddress:
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
        return _parse_ip(candidate)
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
            address = _parse_ip(ip)
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
        if scheme not in _DEFAULT_PORTS:
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
        return Target(url=parsed, scheme=scheme, host=host, port=parsed.port or _DEFAULT_PORTS[scheme], ip=ip)


# -- fetching ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """A fetched response: the final URL (with its host name, never the pinned IP) and the decoded body."""

    url: str
    status: int  # 2xx; 304 for an unchanged resource; 3xx only when redirects are not followed
    headers: httpx.Headers
    body: bytes
    content_type: str  # lower-case media type without parameters, "" when the server sent none
    redirects: list[str] = field(default_factory=list)  # every URL that answered with a redirect, in order

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, if any."""
        content_type: str = self.headers.get("content-type", "")
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class _BodyDecoder:
    """Undo gzip/deflate with a bound on the output of each step, so a bomb never inflates past the cap."""

    def __init__(self, content_encoding: str) -> None:
        encoding = content_encoding.strip().lower()
        self._raw_deflate_fallback = encoding == "deflate"
        if encoding in ("", "identity"):
            self._inflater: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._inflater = zlib.decompressobj()
        else:
            raise ValueError(f"unsupported content encoding {content_encoding!r}")

    def decode(self, data: bytes, max_length: int) -> bytes:
        """Decode a chunk into at most ``max_length`` bytes; reaching it means the caller stops reading."""
        if self._inflater is None:
            return data
        try:
            decoded = self._inflater.decompress(data, max_length)
        except zlib.error:
            if not self._raw_deflate_fallback:
                raise
            # Some servers send raw deflate without the zlib header (as browsers tolerate): retry the first chunk.
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            decoded = self._inflater.decompress(data, max_length)
        self._raw_deflate_fallback = False
        return decoded

    def flush(self) -> bytes:
        return self._inflater.flush() if self._inflater is not None else b""


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class SafeFetcher:
    """GET a URL from the public internet (or the allow-list), re-checking every redirect hop."""

    def __init__(
        self,
        *,
        policy: AddressPolicy | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._resolver = resolver or _getaddrinfo
        self._transport = transport
        self._timeout = httpx.Timeout(
            connect=min(connect_timeout_s, timeout_s),
            read=min(read_timeout_s, timeout_s),
            write=min(read_timeout_s, timeout_s),
            pool=min(connect_timeout_s, timeout_s),
        )
        # One client per origin: pooled connections are keyed by IP, and one opened with another host's SNI
        # must never carry this host's requests.
        self._clients: OrderedDict[tuple[str, str, int], httpx.AsyncClient] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> SafeFetcher:
        """The fetcher configured by CORTEX_FETCH_* settings."""
        return cls(
            policy=AddressPolicy.from_allow_list(settings.fetch_allow_networks),
            max_bytes=settings.fetch_max_bytes,
            timeout_s=settings.fetch_timeout_s,
            max_redirects=settings.fetch_max_redirects,
        )

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        accept_types: Collection[str] | None = None,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """GET ``url`` safely; raises a FetchError subclass for every refusal or failure (see ``.code``).

        ``accept_types`` (lower-case media types) aborts before the body when the response is another type.
        A 304 answer to conditional ``headers`` is returned (empty body); 4xx/5xx raise HttpStatusError.
        With ``follow_redirects=False`` a redirect is returned as is (3xx status, ``location`` header, no body)
        for a caller that schedules the target itself, as the crawler does.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(
                    url,
                    headers=headers,
                    max_bytes=limit,
                    accept_types=accept_types,
                    follow_redirects=follow_redirects,
                )
        except TimeoutError as exc:
            raise FetchTimeout(f"no complete response within {self.timeout_s:g} s", url=url) from exc

    async def _fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        max_bytes: int,
        accept_types: Collection[str] | None,
        follow_redirects: bool,
    ) -> FetchResult:
        request_headers = httpx.Headers({"User-Agent": self.user_agent, "Accept": "*/*"})
        request_headers.update(dict(headers or {}))
        # Only what _BodyDecoder can undo, whatever the caller asked for.
        request_headers["Accept-Encoding"] = "gzip, deflate"
        redirects: list[str] = []
        current = url
        target = self.policy.check_url(current)
        while True:
            addresses = await self._resolve(target, url=current)
            response = await self._open(target, addresses, request_headers, url=current)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location and not follow_redirects:
                    return FetchResult(
                        url=str(target.url.copy_with(fragment=None)),
                        status=response.status_code,
                        headers=response.headers,
                        body=b"",
                        content_type=_media_type(response.headers.get("content-type")),
                    )
                if response.status_code in _REDIRECT_STATUSES and location:
                    try:
                        next_url = str(target.url.join(location.strip()).copy_with(fragment=None))
                    except httpx.InvalidURL as exc:
                        raise BadUrl(f"unusable redirect location {location!r}: {exc}", url=current) from exc
                    redirects.append(current)
                    if len(redirects) > self.max_redirects:
                        raise TooManyRedirects(f"more than {self.max_redirects} redirects", url=url)
                    if next_url in redirects:
                        raise TooManyRedirects(f"redirect loop at {next_url}", url=url)
                    next_target = self.policy.check_url(next_url)
                    if (next_target.scheme, next_target.host, next_target.port) != (
                        target.scheme,
                        target.host,
                        target.port,
                    ):
                        for name in _CREDENTIAL_HEADERS:
                            request_headers.pop(name, None)
                    current, target = next_url, next_target
                    continue
                status = response.status_code
                if not (200 <= status < 300 or status == 304):
                    raise HttpStatusError(f"HTTP {status} from {current}", status=status, url=current)
                content_type = _media_type(response.headers.get("content-type"))
                if accept_types is not None and status != 304 and content_type not in accept_types:
                    raise UnsupportedContentType(
                        f"{content_type or 'no content type'} is not accepted here",
                        content_type=content_type,
                        url=current,
                    )
                body = await self._read_body(response, max_bytes=max_bytes, url=current)
                return FetchResult(
                    url=str(target.url.copy_with(fragment=None)),
                    status=status,
                    headers=response.headers,
                    body=body,
                    content_type=content_type,
                    redirects=redirects,
                )
            finally:
                await response.aclose()

    async def _resolve(self, target: Target, *, url: str) -> list[IPAddress]:
        """Every address of the host, each one checked: one bad answer refuses the whole name."""
        if target.ip is not None:
            return [target.ip]
        try:
            answers = await self._resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise ConnectionFailed(f"could not resolve {target.host}: {exc}", url=url) from exc
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                address = _parse_ip(answer)
            except ValueError as exc:
                raise ConnectionFailed(f"{target.host} resolved to {answer!r}, not an address", url=url) from exc
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ConnectionFailed(f"{target.host} has no addresses", url=url)
        for address in addresses:
            try:
                self.policy.check_ip(address, host=target.host)
            except BlockedAddress as exc:
                message = f"{target.host} resolves to {exc.address}, which is blocked: {exc.reason}"
                raise BlockedAddress(message, url=url, address=exc.address, reason=exc.reason) from None
        return addresses

    async def _client(self, target: Target) -> httpx.AsyncClient:
        key = (target.scheme, target.host, target.port)
        client = self._clients.pop(key, None)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would connect for us, unpinned
                transport=self._transport,
            )
        self._clients[key] = client
        while len(self._clients) > _MAX_CLIENTS:
            _, oldest = self._clients.popitem(last=False)
            await oldest.aclose()
        return client

    async def _open(
        self, target: Target, addresses: list[IPAddress], headers: httpx.Headers, *, url: str
    ) -> httpx.Response:
        """Send the request to the first checked address that accepts a connection."""
        client = await self._client(target)
        host_header = f"[{target.host}]" if ":" in target.host else target.host
        if target.url.port is not None:
            host_header = f"{host_header}:{target.url.port}"
        pinned_headers = httpx.Headers(headers)
        pinned_headers["Host"] = host_header
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        last_error: Exception | None = None
        for address in addresses:
            request = client.build_request(
                "GET", target.url.copy_with(host=str(address)), headers=pinned_headers, extensions=extensions
            )
            try:
                return await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc  # try the host's next (also checked) address
            except httpx.TimeoutException as exc:
                raise FetchTimeout(f"{target.host} timed out: {type(exc).__name__}", url=url) from exc
            except httpx.HTTPError as exc:
                raise ConnectionFailed(
                    f"request to {target.host} failed: {exc or type(exc).__name__}", url=url
                ) from exc
        raise ConnectionFailed(f"could not connect to {target.host}:{target.port}: {last_error}", url=url)

    async def _read_body(self, response: httpx.Response, *, max_bytes: int, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(f"the response is {int(declared)} bytes; the limit is {max_bytes}", url=url)
        try:
            decoder = _BodyDecoder(response.headers.get("content-encoding", ""))
        except ValueError as exc:
            raise BadResponse(str(exc), url=url) from exc
        chunks: list[bytes] = []
        remaining = max_bytes
        too_large = ResponseTooLarge(f"the response is larger than the limit of {max_bytes} bytes", url=url)
        try:
            async for raw in response.aiter_raw():
                piece = decoder.decode(raw, remaining + 1)
                if len(piece) > remaining:
                    raise too_large
                remaining -= len(piece)
                chunks.append(piece)
            tail = decoder.flush()
        except zlib.error as exc:
            raise BadResponse(f"the body could not be decoded: {exc}", url=url) from exc
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"reading the response timed out: {type(exc).__name__}", url=url) from exc
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"reading the response failed: {exc or type(exc).__name__}", url=url) from exc
        if len(tail) > remaining:
            raise too_large
        chunks.append(tail)
        return b"".join(chunks)

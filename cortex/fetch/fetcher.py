"""GET a URL from the public internet without letting it reach into our own network (SSRF).

Every hop is checked before anything is sent: the scheme, the absence of credentials, and every address
the host resolves to (:class:`AddressPolicy`). The connection is then pinned to the checked address — the
request goes to the IP, with the original ``Host`` header and TLS SNI — so a DNS answer that changes
between the check and the connect (DNS rebinding) cannot send us elsewhere. Redirects are followed by
hand and each one is checked the same way; bodies are capped after decompression, so a gzip bomb stops
at the limit too.
"""

from __future__ import annotations

import asyncio
import socket
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from cortex.fetch.addresses import AddressPolicy, IPAddress, Target, parse_ip
from cortex.fetch.errors import (
    BadResponse,
    BadUrl,
    BlockedAddress,
    ConnectionFailed,
    FetchTimeout,
    HttpStatusError,
    ResponseTooLarge,
    TooManyRedirects,
    UnsupportedContentType,
)

if TYPE_CHECKING:
    from cortex.settings import Settings

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
# Sent to the original host only: never forwarded to another origin after a redirect.
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


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

    async def check(self, url: str) -> list[IPAddress]:
        """The addresses ``url`` would be reached at, each checked (BadUrl, BadScheme, BlockedAddress or
        ConnectionFailed otherwise): for a client that connects by itself, such as a CalDAV library."""
        target = self.policy.check_url(url)
        return await self._resolve(target, url=url)

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
                address = parse_ip(answer)
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

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None) -> int:
        """POST ``content`` to ``url`` (checked and pinned as a fetch is; a redirect is not followed) and
        return the status, the body unread: for webhooks. Raises a FetchError subclass when it cannot."""
        request_headers = httpx.Headers({"User-Agent": self.user_agent})
        request_headers.update(dict(headers or {}))
        try:
            async with asyncio.timeout(self.timeout_s):
                target = self.policy.check_url(url)
                addresses = await self._resolve(target, url=url)
                response = await self._open(target, addresses, request_headers, url=url, method="POST", content=content)
                await response.aclose()
        except TimeoutError as exc:
            raise FetchTimeout(f"no response within {self.timeout_s:g} s", url=url) from exc
        return response.status_code

    async def _open(
        self,
        target: Target,
        addresses: list[IPAddress],
        headers: httpx.Headers,
        *,
        url: str,
        method: str = "GET",
        content: bytes | None = None,
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
                method,
                target.url.copy_with(host=str(address)),
                headers=pinned_headers,
                content=content,
                extensions=extensions,
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

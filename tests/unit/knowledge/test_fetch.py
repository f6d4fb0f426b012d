"""SafeFetcher and AddressPolicy: SSRF refusals, address pinning, redirects, size caps and timeouts.

The policy tables never connect anywhere; end-to-end checks talk only to a local server on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cortex.fetch import (
    USER_AGENT,
    AddressPolicy,
    BadResponse,
    BadScheme,
    BadUrl,
    BlockedAddress,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HttpStatusError,
    ResponseTooLarge,
    SafeFetcher,
    TooManyRedirects,
    UnsupportedContentType,
    parse_host_ip,
)
from cortex.settings import Settings

LOCAL_ONLY = AddressPolicy.from_allow_list(["127.0.0.1/32"])
# 16 MiB of zeros gzip to ~16 KiB: far below a 1 MiB cap compressed, far above it decoded.
BOMB = gzip.compress(b"\0" * (16 * 1024 * 1024), compresslevel=9)
MIB = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    """Routes for the fetch tests; HTTP/1.0, so a body without Content-Length ends when the socket closes."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body)), **(headers or {})}
        for name, value in headers.items():
            if value:
                self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (timeout and size tests)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        self.server.paths.append(parts.path)  # type: ignore[attr-defined]
        path = parts.path
        if path == "/ok":
            self._send(200, b"<p>hello</p>", {"ETag": '"v1"'})
        elif path == "/echo":
            self._send(200, json.dumps(dict(self.headers.items())).encode(), {"Content-Type": "application/json"})
        elif path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304, headers={"ETag": '"v1"', "Content-Type": "", "Content-Length": ""})
            else:
                self._send(200, b"fresh", {"ETag": '"v1"'})
        elif path == "/big":
            self._send(200, b"x" * int(query["n"]))
        elif path == "/big-unannounced":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(4):  # 4 MiB, no Content-Length: only counting while streaming can stop it
                    self.wfile.write(b"y" * MIB)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/bomb":
            self._send(200, BOMB, {"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        elif path == "/small-gzip":
            self._send(200, gzip.compress(b"z" * 1000), {"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        elif path in ("/deflate", "/raw-deflate"):
            packer = zlib.compressobj(wbits=zlib.MAX_WBITS if path == "/deflate" else -zlib.MAX_WBITS)
            body = packer.compress(b"d" * 1000) + packer.flush()
            self._send(200, body, {"Content-Encoding": "deflate", "Content-Type": "text/plain"})
        elif path == "/brotli":
            self._send(200, b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br", "Content-Type": "text/plain"})
        elif path == "/redirect":
            self._send(302, headers={"Location": query["to"]})
        elif path.startswith("/chain/"):
            hops = int(path.rsplit("/", 1)[1])
            if hops:
                self._send(301, headers={"Location": f"/chain/{hops - 1}"})
            else:
                self._send(200, b"end of chain")
        elif path in ("/loop-a", "/loop-b"):
            self._send(302, headers={"Location": "/loop-b" if path == "/loop-a" else "/loop-a"})
        elif path == "/slow":
            time.sleep(1.0)
            self._send(200, b"late")
        elif path == "/pdf":
            self._send(200, b"%PDF-1.4", {"Content-Type": "application/pdf"})
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"error page")
        else:
            self._send(404, b"not found")


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def port(server: ThreadingHTTPServer) -> int:
    server.paths.clear()  # type: ignore[attr-defined]
    return server.server_address[1]


def _fetcher(policy: AddressPolicy = LOCAL_ONLY, **options: object) -> SafeFetcher:
    return SafeFetcher(policy=policy, **options)  # type: ignore[arg-type]


# -- the policy, without connecting anywhere ---------------------------------------------------------

BLOCKED_IPS = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.10", "documentation"),
    ("203.0.113.10", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("::ffff:127.0.0.1", "loopback address (127.0.0.1) in IPv4-mapped"),
    ("::ffff:10.0.0.1", "private address (RFC 1918) (10.0.0.1) in IPv4-mapped"),
    ("::ffff:169.254.169.254", "metadata address (169.254.169.254) in IPv4-mapped"),
    ("::127.0.0.1", "loopback address (127.0.0.1) in IPv4-compatible"),
    ("::ffff:0:7f00:1", "loopback address (127.0.0.1) in IPv4-translated"),
    ("2002:7f00:1::1", "loopback address (127.0.0.1) in 6to4"),
    ("2002:a9fe:a9fe::", "metadata address (169.254.169.254) in 6to4"),
    ("64:ff9b::7f00:1", "loopback address (127.0.0.1) in NAT64"),
    ("64:ff9b::a00:1", "private address (RFC 1918) (10.0.0.1) in NAT64"),
    ("64:ff9b:1::1", "local-use NAT64"),
]


@pytest.mark.parametrize(("ip", "reason"), BLOCKED_IPS)
def test_the_policy_refuses_non_public_addresses_and_says_why(ip: str, reason: str) -> None:
    with pytest.raises(BlockedAddress, match="blocked") as caught:
        AddressPolicy().check_ip(ip)
    assert reason in caught.value.reason
    assert caught.value.code == "blocked_address"


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_the_policy_admits_public_addresses_and_their_transition_forms(ip: str) -> None:
    AddressPolicy().check_ip(ip)


def test_the_allow_list_admits_its_networks_and_host_names_only() -> None:
    policy = AddressPolicy.from_allow_list(["127.0.0.1/32", "10.0.0.0/8", "wiki.corp", ".intranet"])
    policy.check_ip("127.0.0.1")
    policy.check_ip("10.20.30.40")
    policy.check_ip("192.168.1.1", host="wiki.corp")
    policy.check_ip("192.168.1.1", host="docs.intranet")
    for ip, host in [("127.0.0.2", None), ("::1", None), ("::ffff:127.0.0.1", None), ("192.168.1.1", "evil.corp")]:
        with pytest.raises(BlockedAddress):
            policy.check_ip(ip, host=host)


def test_cloud_metadata_stays_blocked_even_inside_an_allowed_network() -> None:
    policy = AddressPolicy.from_allow_list(["169.254.0.0/16", "100.64.0.0/10", "metadata.google.internal"])
    policy.check_ip("169.254.1.1")
    for ip, host in [
        ("169.254.169.254", None),
        ("100.100.100.200", None),
        ("169.254.169.254", "metadata.google.internal"),
    ]:
        with pytest.raises(BlockedAddress, match="metadata"):
            policy.check_ip(ip, host=host)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
    ],
)
def test_integer_and_octal_host_forms_read_as_the_resolver_reads_them(host: str, address: str) -> None:
    assert parse_host_ip(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "0x", "08.1.2.3", "256.1.2.3", "1.2.3.256", "12a"])
def test_names_that_are_not_addresses_stay_names(host: str) -> None:
    assert parse_host_ip(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1:8080/admin",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://0xa9fea9fe/",
        "http://0/",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_urls_with_internal_address_literals_are_refused_before_any_lookup(url: str) -> None:
    with pytest.raises(BlockedAddress):
        AddressPolicy().check_url(url)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", BadScheme),
        ("ftp://example.com/file", BadScheme),
        ("gopher://127.0.0.1:25/_HELO", BadScheme),
        ("javascript:alert(1)", BadScheme),
        ("//example.com/no-scheme", BadScheme),
        ("http://user:secret@example.com/", BadUrl),
        ("http://user@example.com/", BadUrl),
        ("http:///path-only", BadUrl),
    ],
)
def test_check_url_refuses_other_schemes_credentials_and_empty_hosts(url: str, error: type[FetchError]) -> None:
    with pytest.raises(error):
        AddressPolicy().check_url(url)


def test_check_url_normalises_the_host() -> None:
    target = AddressPolicy().check_url("HTTPS://Example.COM/a?b=1")
    assert (target.scheme, target.host, target.port, target.ip) == ("https", "example.com", 443, None)


def test_from_settings_reads_the_allow_list_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_FETCH_ALLOW_NETWORKS", '["127.0.0.1/32", "wiki.corp"]')
    monkeypatch.setenv("CORTEX_FETCH_MAX_BYTES", "1234")
    fetcher = SafeFetcher.from_settings(Settings())
    assert fetcher.max_bytes == 1234
    assert fetcher.max_redirects == 5
    assert fetcher.policy.allow_networks == (ipaddress.ip_network("127.0.0.1/32"),)
    assert fetcher.policy.allow_hosts == frozenset({"wiki.corp"})
    assert SafeFetcher.from_settings(Settings()).policy != AddressPolicy()
    assert Settings().fetch_allow_networks == ["127.0.0.1/32", "wiki.corp"]


# -- pinning, with a fake resolver and a transport that records instead of connecting ----------------


async def test_https_requests_go_to_the_checked_ip_with_host_header_and_sni() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"), headers={"Content-Type": "text/plain"})

    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("docs.example.com", 443)
        return ["93.184.216.34"]

    async with SafeFetcher(resolver=resolver, transport=httpx.MockTransport(handler)) as fetcher:
        result = await fetcher.fetch("https://Docs.Example.com/guide?x=1")
    request = seen[0]
    assert request.url.host == "93.184.216.34" and request.url.raw_path == b"/guide?x=1"
    assert request.headers["host"] == "docs.example.com"
    assert request.extensions["sni_hostname"] == "docs.example.com"
    assert request.headers["user-agent"] == USER_AGENT
    assert result.url == "https://docs.example.com/guide?x=1" and result.body == b"ok"


async def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.5"]

    async with SafeFetcher(resolver=resolver, transport=httpx.MockTransport(handler)) as fetcher:
        with pytest.raises(BlockedAddress, match=r"shop\.example resolves to 10\.0\.0\.5"):
            await fetcher.fetch("http://shop.example/")


# -- end to end against 127.0.0.1 ------------------------------------------------------------------


async def test_a_local_server_is_refused_without_the_allow_list_and_served_with_it(port: int) -> None:
    for url in (f"http://127.0.0.1:{port}/ok", f"http://localhost:{port}/ok", f"http://2130706433:{port}/ok"):
        async with SafeFetcher() as fetcher:
            with pytest.raises(BlockedAddress):
                await fetcher.fetch(url)
    async with _fetcher() as fetcher:
        result = await fetcher.fetch(f"http://127.0.0.1:{port}/ok")
        via_integer = await fetcher.fetch(f"http://0x7f000001:{port}/ok")
    assert (result.status, result.body, result.content_type, result.charset) == (
        200,
        b"<p>hello</p>",
        "text/html",
        "utf-8",
    )
    assert result.headers["etag"] == '"v1"' and result.redirects == []
    assert via_integer.body == b"<p>hello</p>"


async def test_the_connection_is_pinned_to_the_resolved_address_and_keeps_the_host_name(port: int) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"docs.internal.test": ["127.0.0.1"], "mixed.test": ["127.0.0.1", "10.0.0.1"]}[host]

    async with _fetcher(resolver=resolver) as fetcher:
        result = await fetcher.fetch(f"http://docs.internal.test:{port}/echo", headers={"Host": "evil.test"})
        with pytest.raises(BlockedAddress, match="10.0.0.1"):
            await fetcher.fetch(f"http://mixed.test:{port}/echo")
    echoed = json.loads(result.body)
    assert echoed["Host"] == f"docs.internal.test:{port}"
    assert result.url == f"http://docs.internal.test:{port}/echo"


async def test_a_host_allow_list_entry_admits_every_address_of_that_name(port: int) -> None:
    async with _fetcher(AddressPolicy.from_allow_list(["localhost"])) as fetcher:
        result = await fetcher.fetch(f"http://localhost:{port}/ok")
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"http://127.0.0.1:{port}/ok")
    assert result.body == b"<p>hello</p>"


async def test_when_one_checked_address_refuses_the_next_one_is_tried(port: int) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["::1", "127.0.0.1"]  # nothing listens on [::1]:port

    policy = AddressPolicy.from_allow_list(["::1/128", "127.0.0.1/32"])
    async with _fetcher(policy, resolver=resolver) as fetcher:
        result = await fetcher.fetch(f"http://dual.test:{port}/ok")
    assert result.body == b"<p>hello</p>"


@pytest.mark.parametrize(
    ("location", "error", "message"),
    [
        ("http://[::1]:{port}/ok", BlockedAddress, "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/ok", BlockedAddress, "IPv4-mapped"),
        ("http://0x7f000002:{port}/ok", BlockedAddress, "127.0.0.2"),
        ("http://127.0.0.2:{port}/ok", BlockedAddress, "loopback"),
        ("http://169.254.169.254/latest/meta-data/", BlockedAddress, "metadata"),
        ("file:///etc/passwd", BadScheme, "file"),
        ("gopher://127.0.0.1:{port}/_x", BadScheme, "gopher"),
        ("http://admin:pw@127.0.0.1:{port}/ok", BadUrl, "password"),
    ],
)
async def test_every_redirect_hop_is_checked_again(
    port: int, server: ThreadingHTTPServer, location: str, error: type[FetchError], message: str
) -> None:
    url = httpx.URL(f"http://127.0.0.1:{port}/redirect", params={"to": location.format(port=port)})
    async with _fetcher() as fetcher:
        with pytest.raises(error, match=message):
            await fetcher.fetch(str(url))
    assert server.paths == ["/redirect"]  # type: ignore[attr-defined]


async def test_redirects_are_followed_and_reported(port: int) -> None:
    async with _fetcher() as fetcher:
        result = await fetcher.fetch(f"http://127.0.0.1:{port}/chain/5")
    assert result.body == b"end of chain"
    assert result.url == f"http://127.0.0.1:{port}/chain/0"
    assert result.redirects == [f"http://127.0.0.1:{port}/chain/{hops}" for hops in (5, 4, 3, 2, 1)]


async def test_redirect_chains_past_the_limit_and_loops_stop(port: int, server: ThreadingHTTPServer) -> None:
    async with _fetcher(max_redirects=5) as fetcher:
        with pytest.raises(TooManyRedirects, match="more than 5"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/chain/6")
        assert len(server.paths) == 6  # type: ignore[attr-defined]
        with pytest.raises(TooManyRedirects, match="loop") as caught:
            await fetcher.fetch(f"http://127.0.0.1:{port}/loop-a")
    assert caught.value.code == "too_many_redirects"


async def test_credentials_are_not_forwarded_to_another_origin(port: int) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with _fetcher(resolver=resolver) as fetcher:
        same = await fetcher.fetch(
            f"http://a.test:{port}/redirect?to=/echo", headers={"Authorization": "Bearer t", "Cookie": "s=1"}
        )
        other = await fetcher.fetch(
            f"http://a.test:{port}/redirect?to=http://b.test:{port}/echo",
            headers={"Authorization": "Bearer t", "Cookie": "s=1", "X-Trace": "1"},
        )
    assert json.loads(same.body)["Authorization"] == "Bearer t"
    forwarded = json.loads(other.body)
    assert "Authorization" not in forwarded and "Cookie" not in forwarded
    assert forwarded["X-Trace"] == "1" and forwarded["Host"] == f"b.test:{port}"


@pytest.mark.parametrize("path", ["/big?n=2097152", "/big-unannounced", "/bomb"])
async def test_bodies_over_the_limit_are_cut_off_even_when_compressed(port: int, path: str) -> None:
    async with _fetcher(max_bytes=MIB) as fetcher:
        with pytest.raises(ResponseTooLarge) as caught:
            await fetcher.fetch(f"http://127.0.0.1:{port}{path}")
    assert caught.value.code == "too_large"


async def test_bodies_within_the_limit_arrive_whole_and_decoded(port: int) -> None:
    assert len(BOMB) < MIB  # the bomb test above is only meaningful if the compressed body fits
    async with _fetcher() as fetcher:
        exact = await fetcher.fetch(f"http://127.0.0.1:{port}/big?n=1000", max_bytes=1000)
        decoded = await fetcher.fetch(f"http://127.0.0.1:{port}/small-gzip", max_bytes=1000)
        with pytest.raises(ResponseTooLarge):
            await fetcher.fetch(f"http://127.0.0.1:{port}/small-gzip", max_bytes=999)
    assert exact.body == b"x" * 1000
    assert decoded.body == b"z" * 1000


async def test_deflate_with_and_without_zlib_header_is_decoded_and_other_encodings_refused(port: int) -> None:
    async with _fetcher() as fetcher:
        wrapped = await fetcher.fetch(f"http://127.0.0.1:{port}/deflate")
        raw = await fetcher.fetch(f"http://127.0.0.1:{port}/raw-deflate")
        with pytest.raises(BadResponse, match="br"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/brotli")
    assert wrapped.body == raw.body == b"d" * 1000


async def test_a_slow_server_times_out(port: int) -> None:
    async with _fetcher(timeout_s=0.3) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as caught:
            await fetcher.fetch(f"http://127.0.0.1:{port}/slow")
    assert time.monotonic() - started < 0.9
    assert caught.value.code == "timeout"


async def test_http_errors_content_types_and_refused_connections_are_typed(port: int) -> None:
    async with _fetcher() as fetcher:
        with pytest.raises(HttpStatusError) as not_found:
            await fetcher.fetch(f"http://127.0.0.1:{port}/status/404")
        with pytest.raises(HttpStatusError) as unavailable:
            await fetcher.fetch(f"http://127.0.0.1:{port}/status/503")
        with pytest.raises(UnsupportedContentType) as pdf:
            await fetcher.fetch(f"http://127.0.0.1:{port}/pdf", accept_types={"text/html"})
        with pytest.raises(ConnectionFailed) as refused:
            await fetcher.fetch("http://127.0.0.1:1/")  # port 1: nothing listens there
    assert (not_found.value.status, not_found.value.code) == (404, "http_status")
    assert unavailable.value.status == 503
    assert (pdf.value.content_type, pdf.value.code) == ("application/pdf", "content_type")
    assert refused.value.code == "connection"


async def test_a_conditional_request_can_be_answered_not_modified(port: int) -> None:
    async with _fetcher() as fetcher:
        fresh = await fetcher.fetch(f"http://127.0.0.1:{port}/etag")
        cached = await fetcher.fetch(f"http://127.0.0.1:{port}/etag", headers={"If-None-Match": '"v1"'})
    assert (fresh.status, fresh.body) == (200, b"fresh")
    assert (cached.status, cached.body) == (304, b"")

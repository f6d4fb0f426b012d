"""The crawler against a real static site (a Sphinx build in /work/shared/data/site) served on 127.0.0.1.

The expected pages are worked out here from the site's files with the standard library's HTML parser, so a
crawler bug cannot hide behind an expectation derived from the crawler itself.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from cortex.devtools.shared_data import SHARED_DATA
from cortex.fetch import AddressPolicy, SafeFetcher
from cortex.knowledge.crawl import (
    CrawlConfig,
    CrawledPage,
    Crawler,
    CrawlSummary,
    PageOutcome,
    SitemapError,
    StopSignal,
    canonicalize_url,
    parse_sitemap,
    parse_sitemap_document,
)
from tests.unit.knowledge.memory_frontier import InMemoryFrontier

SITE = SHARED_DATA / "site"
pytestmark = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the shared test site is missing")


# -- what the site holds, worked out independently of the crawler -------------------------------------


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.nofollow: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        href = attributes.get("href")
        if tag == "a" and href:
            (self.nofollow if "nofollow" in (attributes.get("rel") or "").split() else self.links).append(href)


@dataclass
class SiteMap:
    pages: dict[str, int] = field(default_factory=dict)  # reachable HTML path -> link depth from /index.html
    missing: dict[str, int] = field(default_factory=dict)  # linked paths with no file behind them -> depth
    nofollow: set[str] = field(default_factory=set)  # paths linked with rel=nofollow from reachable pages


def _explore(start: str = "index.html", *, skip: tuple[str, ...] = ()) -> SiteMap:
    """Breadth-first walk over the files: every page reachable by followable links, with its depth."""
    root = "http://site.test/"
    result = SiteMap(pages={start: 0})
    queue = [start]
    while queue:
        path = queue.pop(0)
        parser = _Anchors()
        parser.feed((SITE / path).read_text(encoding="utf-8"))
        result.nofollow |= {urlsplit(urljoin(root + path, href)).path.lstrip("/") for href in parser.nofollow}
        for href in parser.links:
            url = urldefrag(urljoin(root + path, href))[0]
            if not url.startswith(root):
                continue
            target = urlsplit(url).path.lstrip("/") or "index.html"
            if target in result.pages or target in result.missing or target.startswith(skip):
                continue
            if (SITE / target).is_file():
                result.pages[target] = result.pages[path] + 1
                queue.append(target)
            else:
                result.missing[target] = result.pages[path] + 1
    return result


SITE_MAP = _explore() if (SITE / "index.html").is_file() else SiteMap()
ALL_HTML = sorted(str(path.relative_to(SITE)) for path in SITE.rglob("*.html"))


# -- a static server with validators, robots.txt and a sitemap -----------------------------------------


@dataclass
class Request:
    path: str
    at: float
    conditional: bool


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real site

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        server: SiteServer = self.server  # type: ignore[assignment]
        path = urlsplit(self.path).path
        conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
        server.requests.append(Request(path=path, at=time.monotonic(), conditional=conditional))
        if path in server.extra:
            status, content_type, body, *headers = server.extra[path]
            self._send(status, body, {"Content-Type": content_type, **(headers[0] if headers else {})})
            return
        if path == "/robots.txt":
            if server.robots_status == 200:
                self._send(200, server.robots.encode(), {"Content-Type": "text/plain"})
            else:
                self._send(server.robots_status, b"", {"Content-Type": "text/plain"})
            return
        if path == "/sitemap.xml":
            self._send(200, _sitemap(f"http://127.0.0.1:{server.server_address[1]}"), {"Content-Type": "text/xml"})
            return
        file = (SITE / path.lstrip("/")).resolve()
        if file.is_dir():
            file = file / "index.html"
        if SITE.resolve() not in file.parents or not file.is_file():
            self._send(404, b"<h1>Not Found</h1>", {"Content-Type": "text/html"})
            return
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = int(file.stat().st_mtime)
        validators = {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True)}
        since = self.headers.get("If-Modified-Since")
        if self.headers.get("If-None-Match") == etag or (
            "If-None-Match" not in self.headers and since and parsedate_to_datetime(since).timestamp() >= modified
        ):
            self._send(304, b"", validators)
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        self._send(200, body, {"Content-Type": content_type, **validators})


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def reset(self) -> None:
        self.requests: list[Request] = []
        self.robots_status = 404  # the site has no robots.txt: everything is allowed
        self.robots = ""
        # path -> (status, content type, body[, headers]): pages the site does not have
        self.extra: dict[str, tuple[int, str, bytes] | tuple[int, str, bytes, dict[str, str]]] = {}

    def fetched(self) -> Counter[str]:
        """How often each path was requested."""
        return Counter(request.path for request in self.requests)


def _sitemap(origin: str) -> bytes:
    urls = "".join(f"<url><loc>{origin}/{path}</loc></url>" for path in ALL_HTML)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


@pytest.fixture(scope="module")
def site_server() -> Iterator[SiteServer]:
    server = SiteServer(("127.0.0.1", 0), _SiteHandler)
    server.reset()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(site_server: SiteServer) -> SiteServer:
    site_server.reset()
    return site_server


def _origin(site: SiteServer) -> str:
    return f"http://127.0.0.1:{site.server_address[1]}"


def _url(site: SiteServer, path: str) -> str:
    return f"{_origin(site)}/{path}" if path != "index.html" else f"{_origin(site)}/"


class Recorder:
    """on_page and should_stop for a test: keeps pages, pauses after a number of them if asked."""

    def __init__(self, *, pause_after: int | None = None) -> None:
        self.pages: list[CrawledPage] = []
        self.pause_after = pause_after

    async def on_page(self, page: CrawledPage) -> None:
        self.pages.append(page)

    async def should_stop(self) -> StopSignal:
        if self.pause_after is not None and len(self.pages) >= self.pause_after:
            return "pause"
        return None


async def _crawl(
    site: SiteServer,
    frontier: InMemoryFrontier,
    recorder: Recorder | None = None,
    **config: object,
) -> tuple[Recorder, CrawlSummary]:
    recorder = recorder or Recorder()
    options: dict[str, object] = {"start_url": _origin(site) + "/", "delay_s": 0.0, "max_depth": 20, **config}
    async with SafeFetcher(policy=AddressPolicy.from_allow_list(["127.0.0.1/32"])) as fetcher:
        crawler = Crawler(
            config=CrawlConfig(**options),  # type: ignore[arg-type]
            fetcher=fetcher,
            frontier=frontier,
            on_page=recorder.on_page,
            should_stop=recorder.should_stop,
        )
        summary = await crawler.run()
    return recorder, summary


# -- whole-site crawls ---------------------------------------------------------------------------------


async def test_a_crawl_finds_every_reachable_page_once_and_records_broken_links(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    recorder, summary = await _crawl(site, frontier)

    expected = {_url(site, path) for path in SITE_MAP.pages}
    # "/" serves index.html, which the pages also link as /index.html: the second is a duplicate.
    assert frontier.urls("fetched") == expected
    assert {page.url for page in recorder.pages} == expected
    # 24 HTML files, of which source/architecture.html and api/modules.html have no inbound link (README).
    assert len(recorder.pages) == len(expected) == len(SITE_MAP.pages) == 22
    assert frontier.urls("skipped") == {f"{_origin(site)}/index.html"}
    assert frontier.outcome(f"{_origin(site)}/index.html") == PageOutcome(
        status="skipped",
        http_status=200,
        error=f"duplicate of {_origin(site)}/",
        content_hash=frontier.outcome(_origin(site) + "/").content_hash,  # type: ignore[union-attr]
        etag=frontier.outcome(_origin(site) + "/").etag,  # type: ignore[union-attr]
        last_modified=frontier.outcome(_origin(site) + "/").last_modified,  # type: ignore[union-attr]
        title="Wepy: A Weighted Ensemble (WE) simulation framework — wepy v0.10 documentation",
    )
    failed = {url: frontier.outcome(url) for url in frontier.urls("failed")}
    assert set(failed) == {_url(site, path) for path in SITE_MAP.missing}
    assert _url(site, "source/glossary.html") in failed and len(failed) > 30
    assert all(outcome.http_status == 404 and "404" in (outcome.error or "") for outcome in failed.values())  # type: ignore[union-attr]

    requested = site.fetched()
    assert all(count == 1 for count in requested.values()), requested.most_common(3)
    assert SITE_MAP.nofollow and not {"/" + path for path in SITE_MAP.nofollow} & set(requested)
    assert "/source/architecture.html" not in requested  # no page links to it
    assert requested["/robots.txt"] == 1
    assert summary.state == "completed" and not summary.page_limit_reached
    assert summary.counts == {
        "found": 22 + 1 + len(SITE_MAP.missing),
        "queued": 0,
        "fetched": 22,
        "not_modified": 0,
        "failed": len(SITE_MAP.missing),
        "skipped": 1,
    }
    by_url = {page.url: page for page in recorder.pages}
    explanation = by_url[_url(site, "source/explanation.html")]
    assert explanation.title == "Explanation of Wepy — wepy v0.10 documentation"
    assert "Weighted Ensemble" in explanation.text and "<div" not in explanation.text
    assert explanation.content_hash == hashlib.sha256(explanation.text.encode()).hexdigest()
    assert explanation.etag and explanation.last_modified
    assert {page.url: page.depth for page in recorder.pages} == {_url(site, p): d for p, d in SITE_MAP.pages.items()}

    # The second crawl of the same source asks with the stored validators: every page answers 304.
    site.requests.clear()
    frontier.start_recrawl()
    again, summary = await _crawl(site, frontier)
    assert again.pages == []
    assert frontier.urls("not_modified") == expected
    assert all(frontier.outcome(url).http_status == 304 for url in expected)  # type: ignore[union-attr]
    page_paths = {urlsplit(url).path for url in expected}
    assert all(request.conditional for request in site.requests if request.path in page_paths)
    assert page_paths <= {request.path for request in site.requests}
    assert summary.counts["not_modified"] == 22 and summary.counts["fetched"] == 0


async def test_a_recrawl_reports_only_changed_pages(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    await _crawl(site, frontier, max_depth=1, exclude_patterns=["*genindex*", "/tutorials/*"])
    first_round = frontier.urls("fetched")
    changed = _url(site, "source/explanation.html")
    assert changed in first_round
    site.extra["/source/explanation.html"] = (
        200,
        "text/html",
        b"<html><head><title>Explanation v2</title></head><body><article><h1>Explanation v2</h1>"
        b"<p>Wepy now explains weighted ensemble sampling in a completely rewritten paragraph.</p>"
        b"</article></body></html>",
    )
    frontier.start_recrawl()
    recorder, _ = await _crawl(site, frontier, max_depth=1, exclude_patterns=["*genindex*", "/tutorials/*"])
    assert [page.url for page in recorder.pages] == [changed]
    assert recorder.pages[0].title == "Explanation v2" and "rewritten" in recorder.pages[0].text
    assert frontier.urls("not_modified") == first_round - {changed}


async def test_pause_then_resume_fetches_every_page_exactly_once(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    lighter = ["/genindex.html", "/tutorials/data_analysis.html"]  # the two slowest pages to extract
    first, summary = await _crawl(site, frontier, recorder=Recorder(pause_after=5), exclude_patterns=lighter)
    assert summary.state == "paused"
    assert len(first.pages) == 5 and summary.counts["queued"] > 0

    second, summary = await _crawl(site, frontier, exclude_patterns=lighter)
    assert summary.state == "completed"
    pages = [page.url for page in first.pages + second.pages]
    expected = _explore(skip=("genindex.html", "tutorials/data_analysis.html")).pages
    assert sorted(pages) == sorted(_url(site, path) for path in expected)
    counts = site.fetched()
    assert counts.pop("/robots.txt") == 2  # once per run
    assert all(count == 1 for count in counts.values()), counts.most_common(3)


async def test_cancel_stops_before_the_next_fetch(site: SiteServer) -> None:
    async def cancel() -> StopSignal:
        return "cancel"

    frontier = InMemoryFrontier()
    async with SafeFetcher(policy=AddressPolicy.from_allow_list(["127.0.0.1/32"])) as fetcher:
        crawler = Crawler(
            config=CrawlConfig(start_url=_origin(site) + "/", delay_s=0),
            fetcher=fetcher,
            frontier=frontier,
            on_page=Recorder().on_page,
            should_stop=cancel,
        )
        summary = await crawler.run()
    assert summary.state == "cancelled" and site.requests == []


# -- scope and limits ----------------------------------------------------------------------------------


async def test_robots_txt_disallowed_paths_are_skipped_without_a_request(site: SiteServer) -> None:
    site.robots_status = 200
    site.robots = "User-agent: *\nDisallow: /api/\nDisallow: /genindex.html\n\nUser-agent: OtherBot\nDisallow: /\n"
    frontier = InMemoryFrontier()
    recorder, _ = await _crawl(site, frontier)

    requested = site.fetched()
    assert not [path for path in requested if path.startswith("/api/") or path == "/genindex.html"]
    skipped = {url: frontier.outcome(url) for url in frontier.urls("skipped")}
    assert _url(site, "api/index.html") in skipped and _url(site, "genindex.html") in skipped
    assert {
        outcome.error  # type: ignore[union-attr]
        for url, outcome in skipped.items()
        if url != _origin(site) + "/index.html"
    } == {"disallowed by robots.txt"}
    expected = _explore(skip=("api/", "genindex.html"))
    assert {page.url for page in recorder.pages} == {_url(site, path) for path in expected.pages}


async def test_an_unreadable_robots_txt_means_nothing_is_crawled(site: SiteServer) -> None:
    site.robots_status = 503
    frontier = InMemoryFrontier()
    recorder, summary = await _crawl(site, frontier)
    assert recorder.pages == [] and [request.path for request in site.requests] == ["/robots.txt"]
    outcome = frontier.outcome(_origin(site) + "/")
    assert outcome is not None and outcome.status == "failed" and "503" in (outcome.error or "")


async def test_exclude_and_include_patterns_limit_the_crawl(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    excluded = ["/api/wepy.*", "re:^/(genindex|py-modindex)\\.html$", "/tutorials/data_*"]
    await _crawl(site, frontier, exclude_patterns=excluded)
    paths = {urlsplit(url).path for url in frontier.urls()}
    assert "/api/index.html" in paths and "/tutorials/index.html" in paths
    assert not [path for path in paths if path.startswith("/api/wepy.")]
    assert not {"/genindex.html", "/py-modindex.html"} & (paths | set(site.fetched()))

    site.requests.clear()
    frontier = InMemoryFrontier()
    recorder, _ = await _crawl(site, frontier, include_patterns=["/tutorials/*"])
    fetched = {urlsplit(page.url).path for page in recorder.pages}
    assert fetched == {"/", "/tutorials/index.html", "/tutorials/data_analysis.html"}


async def test_max_depth_stops_link_following(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    recorder, _ = await _crawl(site, frontier, max_depth=1, exclude_patterns=["*genindex*", "/tutorials/*"])
    assert {page.depth for page in recorder.pages} == {0, 1}
    depth_one = {path for path, depth in SITE_MAP.pages.items() if depth == 1 and "genindex" not in path}
    depth_one -= {path for path in depth_one if path.startswith("tutorials/")}
    assert {page.url for page in recorder.pages} == {_url(site, "index.html")} | {_url(site, p) for p in depth_one}
    depths = {**SITE_MAP.pages, **SITE_MAP.missing, "index.html": 0}
    requested = [path.lstrip("/") or "index.html" for path in site.fetched() if path != "/robots.txt"]
    assert requested and all(depths[path] <= 1 for path in requested)


async def test_max_pages_counts_fetched_pages(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    recorder, summary = await _crawl(site, frontier, max_pages=4)
    assert len(recorder.pages) == 4 and summary.page_limit_reached
    assert summary.counts["fetched"] == 4 and summary.counts["queued"] > 0
    # A resumed run honours the same limit: nothing more is fetched.
    more, summary = await _crawl(site, frontier, max_pages=4)
    assert more.pages == [] and summary.counts["fetched"] == 4


async def test_the_politeness_delay_spaces_requests_to_one_host(site: SiteServer) -> None:
    frontier = InMemoryFrontier()
    await _crawl(site, frontier, delay_s=0.2, max_pages=3, exclude_patterns=["*genindex*", "/tutorials/*"])
    starts = [request.at for request in site.requests]
    assert len(starts) >= 4  # robots.txt and at least three pages
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps


async def test_a_larger_robots_crawl_delay_wins(site: SiteServer) -> None:
    site.robots_status = 200
    site.robots = "User-agent: CortexBot\nCrawl-delay: 0.3\nAllow: /\n"
    await _crawl(site, InMemoryFrontier(), delay_s=0.0, max_pages=2, exclude_patterns=["*genindex*"])
    starts = [request.at for request in site.requests]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 2 and min(gaps) >= 0.29, gaps


async def test_a_sitemap_finds_pages_no_link_reaches(site: SiteServer) -> None:
    site.robots_status = 200
    site.robots = f"User-agent: *\nAllow: /\nSitemap: {_origin(site)}/sitemap.xml\n"
    frontier = InMemoryFrontier()
    excluded = ("genindex.html", "tutorials/data_analysis.html", "api/wepy.")
    recorder, _ = await _crawl(site, frontier, max_depth=0, exclude_patterns=[f"/{path}*" for path in excluded])
    fetched = {urlsplit(page.url).path for page in recorder.pages}
    assert {"/source/architecture.html", "/api/modules.html"} <= fetched
    expected = {"/" + path for path in ALL_HTML if not path.startswith(excluded)}
    assert fetched | {"/index.html"} == expected | {"/"}
    assert site.fetched()["/sitemap.xml"] == 1


# -- pages the site does not have: canonical, noindex, non-HTML, redirects off-site --------------------


async def test_canonical_noindex_and_non_html_pages_are_skipped_with_a_reason(site: SiteServer) -> None:
    html = "text/html; charset=utf-8"
    site.extra = {
        "/start.html": (
            200,
            html,
            b"<html><body><main><p>Start page with links to every special case we serve.</p></main>"
            b'<a href="/alias.html?utm_source=x#top">alias</a> <a href="/private.html">private</a>'
            b'<a href="/file.pdf">pdf</a> <a href="/hidden.html" rel="nofollow">hidden</a>'
            b'<a href="https://example.com/">external</a> <a href="mailto:a@b.c">mail</a>'
            b'<a href="/moved.html">moved</a> <a href="/away.html">away</a> <a href="/self.html">self</a>'
            b"</body></html>",
        ),
        "/moved.html": (301, html, b"", {"Location": "/real.html"}),
        "/away.html": (302, html, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/self.html": (302, html, b"", {"Location": "/self.html#again"}),
        "/alias.html": (
            200,
            html,
            b'<html><head><link rel="canonical" href="/real.html"></head><body><p>Alias text.</p></body></html>',
        ),
        "/real.html": (
            200,
            html,
            b"<html><body><article><p>The real article body is here.</p></article></body></html>",
        ),
        "/private.html": (
            200,
            html,
            b'<html><head><meta name="robots" content="noindex"></head><body><p>Secret words.</p>'
            b'<a href="/behind-noindex.html">more</a></body></html>',
        ),
        "/behind-noindex.html": (200, html, b"<html><body><p>Reached through a noindex page.</p></body></html>"),
        "/file.pdf": (200, "application/pdf", b"%PDF-1.4 not html"),
        "/hidden.html": (200, html, b"<html><body><p>never linked followably</p></body></html>"),
    }
    frontier = InMemoryFrontier()
    recorder, _ = await _crawl(site, frontier, start_url=_origin(site) + "/start.html")
    outcomes = {urlsplit(url).path: frontier.outcome(url) for url in frontier.urls()}
    assert {path: outcome.status for path, outcome in outcomes.items()} == {  # type: ignore[union-attr]
        "/start.html": "fetched",
        "/alias.html": "skipped",
        "/real.html": "fetched",
        "/private.html": "skipped",
        "/behind-noindex.html": "fetched",
        "/file.pdf": "skipped",
        "/moved.html": "skipped",
        "/away.html": "skipped",
        "/self.html": "failed",
    }
    assert outcomes["/alias.html"].error == f"canonical URL is {_origin(site)}/real.html"  # type: ignore[union-attr]
    assert "noindex" in (outcomes["/private.html"].error or "")  # type: ignore[union-attr]
    assert outcomes["/file.pdf"].error == "not an HTML page (application/pdf)"  # type: ignore[union-attr]
    assert outcomes["/moved.html"] == PageOutcome(  # the target is queued and crawled under its own URL
        status="skipped", http_status=301, error=f"redirects to {_origin(site)}/real.html"
    )
    assert outcomes["/away.html"].error == "redirects out of scope to http://169.254.169.254/latest/meta-data/"  # type: ignore[union-attr]
    assert outcomes["/self.html"].error == "the page redirects to itself"  # type: ignore[union-attr]
    assert sorted(page.url for page in recorder.pages) == [
        f"{_origin(site)}/{path}" for path in ("behind-noindex.html", "real.html", "start.html")
    ]
    assert "Secret" not in " ".join(page.text for page in recorder.pages)
    assert "/hidden.html" not in site.fetched()


async def test_a_site_on_a_private_address_is_recorded_as_failed_without_a_request(site: SiteServer) -> None:
    for respect_robots in (True, False):
        frontier = InMemoryFrontier()
        async with SafeFetcher() as fetcher:  # no allow-list: 127.0.0.1 is off limits
            crawler = Crawler(
                config=CrawlConfig(start_url=_origin(site) + "/", delay_s=0, respect_robots=respect_robots),
                fetcher=fetcher,
                frontier=frontier,
                on_page=Recorder().on_page,
            )
            summary = await crawler.run()
        outcome = frontier.outcome(_origin(site) + "/")
        assert outcome is not None and outcome.status == "failed"
        assert (outcome.error or "").startswith("blocked_address: ") and "loopback" in (outcome.error or "")
        assert summary.counts["failed"] == summary.counts["found"] == 1
    assert site.requests == []


# -- URLs and sitemaps, no server ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("../b/./c.html#frag", "http://example.com/b/c.html"),
        ("HTTP://Example.COM:80/x", "http://example.com/x"),
        ("https://example.com:443/x?b=2&a=1&utm_source=n&gclid=z&fbclid=y", "https://example.com/x?a=1&b=2"),
        ("https://example.com:8443", "https://example.com:8443/"),
        ("?q=a b", "http://example.com/a/page.html?q=a+b"),
        ("/caf\u00e9", "http://example.com/caf%C3%A9"),
        ("http://EXAMPLE.com/a/../../b", "http://example.com/b"),
        ("  /spaced\n  ", "http://example.com/spaced"),
        ("mailto:someone@example.com", None),
        ("javascript:void(0)", None),
        ("ftp://example.com/file", None),
        ("http://user:pw@example.com/", None),
        ("http://example.com:99999/", None),
    ],
)
def test_canonicalize_url(href: str, expected: str | None) -> None:
    assert canonicalize_url(href, base="http://example.com/a/page.html") == expected


def test_www_is_the_same_site_and_other_hosts_are_not() -> None:
    config = CrawlConfig(start_url="https://www.example.com/docs/")
    assert config.in_scope("https://example.com/pricing")
    assert config.in_scope("http://www.example.com/a")
    assert not config.in_scope("https://blog.example.com/")
    assert not config.in_scope("https://example.com.evil.test/")


def test_invalid_configs_are_refused() -> None:
    for bad in ({"start_url": "ftp://x/"}, {"start_url": "http://x/", "exclude_patterns": ["re:("]}):
        with pytest.raises(ValueError):
            CrawlConfig(**bad)


def test_parse_sitemap_reads_urlsets_indexes_and_gzip() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> https://example.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>"
        b"<url><loc>https://example.com/b</loc></url></urlset>"
    )
    assert parse_sitemap(urlset) == ["https://example.com/a?x=1&y=2", "https://example.com/b"]
    assert parse_sitemap(gzip.compress(urlset)) == parse_sitemap(urlset)
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://example.com/s1.xml</loc></sitemap></sitemapindex>"
    )
    document = parse_sitemap_document(index)
    assert (document.kind, document.locations) == ("sitemapindex", ["https://example.com/s1.xml"])


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<urlset><url><loc>&lol2;</loc></url></urlset>",
        b'<!DOCTYPE urlset SYSTEM "http://127.0.0.1/evil.dtd"><urlset/>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><urlset>&xxe;</urlset>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><urlset/>'.encode("utf-16"),
        b"<html><body>not a sitemap</body></html>",
        b"<urlset><url><loc>unclosed",
    ],
)
def test_parse_sitemap_refuses_dtds_entities_and_non_sitemaps(xml: bytes) -> None:
    with pytest.raises(SitemapError):
        parse_sitemap(xml)

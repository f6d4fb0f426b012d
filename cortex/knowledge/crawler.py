"""The web crawler's logic: what to fetch, in which order, how politely, and what a page yields.

No database and no Ray here: the crawl's persistent state sits behind :class:`CrawlFrontier` (Postgres in the
crawl job, :class:`InMemoryFrontier` in tests and the CLI dry-run), pages leave through an ``on_page``
callback (chunk and embed), and the job steers with ``should_stop`` (pause / cancel). Every fetch goes
through :class:`~cortex.knowledge.fetch.SafeFetcher`, so a crawl can never reach a private address.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from typing import Literal, NoReturn, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from xml.parsers import expat

import lxml.html
import trafilatura
from lxml import etree
from protego import Protego

from cortex.knowledge.fetch import (
    USER_AGENT,
    BlockedAddress,
    FetchError,
    FetchResult,
    HttpStatusError,
    SafeFetcher,
    UnsupportedContentType,
)
from cortex.knowledge.visibility import drop_hidden

log = logging.getLogger("cortex.knowledge.crawler")

OutcomeStatus = Literal["fetched", "not_modified", "failed", "skipped"]
StopSignal = Literal["pause", "cancel"] | None
CrawlState = Literal["completed", "paused", "cancelled"]
OnPage = Callable[["CrawledPage"], Awaitable[None]]
ShouldStop = Callable[[], Awaitable[StopSignal]]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Query parameters that only say where a visitor came from: the same page under many URLs otherwise.
TRACKING_PARAMS = frozenset(
    {"gclid", "fbclid", "msclkid", "dclid", "yclid", "gbraid", "wbraid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # RFC 3986 pchar plus "/" and "%" (existing escapes stay as they are)

# 20 URLs per frontier round trip: few queries, and a pause never waits on more than one page.
_BATCH_SIZE = 20
# 500 KiB: Google's limit for robots.txt; a larger one counts as unreadable (the host is not crawled).
_MAX_ROBOTS_BYTES = 500 * 1024
# A site asking for more than 30 s between requests would make a crawl last days; 30 s is still polite.
_MAX_CRAWL_DELAY_S = 30.0
# The sitemap protocol's limits for one file: 50 MB uncompressed and 50,000 URLs.
_MAX_SITEMAP_BYTES = 50 * 1024 * 1024
_MAX_SITEMAP_URLS = 50_000
# Index files nest at most once by protocol; 2 levels and 50 files bound a hostile chain of indexes.
_MAX_SITEMAP_LEVELS = 2
_MAX_SITEMAP_FILES = 50
# At most 10 URLs visited per page the crawl may index: a site of endless redirects, duplicates or broken
# links cannot keep a crawl busy forever, while a normal site (a few broken links per page) never hits it.
_MAX_VISITS_PER_PAGE = 10


# -- records exchanged with the frontier and the job ----------------------------------------------------


@dataclass(frozen=True)
class PageOutcome:
    """What happened to one URL in this crawl (stored by the frontier)."""

    status: OutcomeStatus
    http_status: int | None = None
    error: str | None = None  # failed: the error; skipped: the reason ("duplicate of …", "noindex", …)
    content_hash: str | None = None  # sha256 hex of the extracted text
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None  # None on a 304: the stored title stays


@dataclass(frozen=True)
class PreviousFetch:
    """Validators from an earlier crawl of a URL, for a conditional re-fetch."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class CrawledPage:
    """A new or changed page for the job to chunk and embed (``url`` is the URL recorded in the frontier)."""

    url: str
    title: str
    text: str  # main text as markdown
    content_hash: str
    etag: str | None
    last_modified: str | None
    depth: int


@dataclass(frozen=True)
class CrawlSummary:
    """Why :meth:`Crawler.run` returned and where the crawl stands."""

    state: CrawlState  # completed: nothing left (or page limit); paused / cancelled: should_stop said so
    counts: dict[str, int]  # the frontier's counts at the end
    requests: int  # HTTP requests this run: pages, robots.txt, sitemaps
    page_limit_reached: bool = False
    warnings: list[str] = field(default_factory=list)  # sitemap problems that did not stop the crawl


class CrawlFrontier(Protocol):
    """The crawl's persistent state: which URLs are known, which are queued, what each fetch gave."""

    async def add(self, urls: list[tuple[str, int]]) -> int:
        """Queue (canonical url, depth) pairs; already-known URLs are ignored. Returns how many were new."""
        ...

    async def next_batch(self, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` queued URLs with their depth, oldest first, not yet recorded in this crawl."""
        ...

    async def record(self, url: str, outcome: PageOutcome) -> None:
        """Store a URL's outcome; the URL leaves the queue."""
        ...

    async def previous(self, url: str) -> PreviousFetch | None:
        """Validators from an earlier crawl of ``url`` (incremental re-crawl), or None."""
        ...

    async def seen_content(self, content_hash: str) -> str | None:
        """A URL of this crawl already holding this content (fetched / not_modified), or None."""
        ...

    async def counts(self) -> dict[str, int]:
        """found / fetched / failed / skipped / not_modified (and queued) for this crawl."""
        ...


class InMemoryFrontier:
    """A CrawlFrontier in dicts, for tests and the CLI dry-run; :meth:`start_recrawl` begins the next crawl."""

    def __init__(self) -> None:
        self._depth: dict[str, int] = {}
        self._queued: dict[str, None] = {}  # insertion-ordered set: oldest first
        self._outcomes: dict[str, PageOutcome] = {}
        self._previous: dict[str, PreviousFetch] = {}
        self._content: dict[str, str] = {}
        self.history: list[tuple[str, PageOutcome]] = []  # every record() call, in order, across crawls

    async def add(self, urls: list[tuple[str, int]]) -> int:
        """Queue unknown URLs; returns how many were new."""
        new = 0
        for url, depth in urls:
            if url not in self._depth:
                self._depth[url] = depth
                self._queued[url] = None
                new += 1
        return new

    async def next_batch(self, limit: int) -> list[tuple[str, int]]:
        """The oldest queued URLs."""
        return [(url, self._depth[url]) for url in islice(self._queued, limit)]

    async def record(self, url: str, outcome: PageOutcome) -> None:
        """Store the outcome; fetched and not_modified pages keep their validators for the next crawl."""
        self._queued.pop(url, None)
        self._outcomes[url] = outcome
        self.history.append((url, outcome))
        if outcome.status in ("fetched", "not_modified"):
            self._previous[url] = PreviousFetch(
                etag=outcome.etag, last_modified=outcome.last_modified, content_hash=outcome.content_hash
            )
            if outcome.content_hash:
                self._content.setdefault(outcome.content_hash, url)

    async def previous(self, url: str) -> PreviousFetch | None:
        """Validators stored by the last fetched / not_modified outcome of ``url``."""
        return self._previous.get(url)

    async def seen_content(self, content_hash: str) -> str | None:
        """The first URL of this crawl that held this content."""
        return self._content.get(content_hash)

    async def counts(self) -> dict[str, int]:
        """Counts for this crawl."""
        counts = {"found": len(self._depth), "queued": len(self._queued)}
        counts.update(dict.fromkeys(("fetched", "not_modified", "failed", "skipped"), 0))
        for outcome in self._outcomes.values():
            counts[outcome.status] += 1
        return counts

    def start_recrawl(self) -> None:
        """Begin a new crawl of the same source: every known URL is queued again, validators are kept."""
        self._queued = dict.fromkeys(self._depth)
        self._outcomes.clear()
        self._content.clear()

    def outcome(self, url: str) -> PageOutcome | None:
        """The URL's outcome in this crawl (None while queued or unknown)."""
        return self._outcomes.get(url)

    def urls(self, status: OutcomeStatus | None = None) -> set[str]:
        """Known URLs, or those whose outcome in this crawl has ``status``."""
        if status is None:
            return set(self._depth)
        return {url for url, outcome in self._outcomes.items() if outcome.status == status}


# -- URLs ------------------------------------------------------------------------------------------------


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/".join(output)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


def canonicalize_url(url: str, *, base: str | None = None) -> str | None:
    """The one spelling of a URL the frontier keys on, or None when it is not a crawlable http(s) URL.

    Resolves against ``base``, drops the fragment, lower-cases scheme and host, removes the default port
    and dot segments, strips tracking parameters (utm_*, gclid, fbclid…) and sorts the query.
    """
    raw = re.sub(r"[\t\r\n]", "", url).strip()  # browsers ignore these inside an href
    try:
        parts = urlsplit(urljoin(base, raw) if base else raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(_remove_dot_segments(parts.path or "/"), safe=_PATH_SAFE)
    pairs = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not name.lower().startswith("utm_") and name.lower() not in TRACKING_PARAMS
    ]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(pairs)), ""))


def site_of(url: str) -> str:
    """The site a canonical URL belongs to: its host[:port] without a leading ``www.``."""
    netloc = urlsplit(url).netloc
    return netloc[4:] if netloc.startswith("www.") else netloc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- configuration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrawlConfig:
    """What to crawl. Patterns match the URL path (with ``?query`` when present): globs, or regexes after ``re:``."""

    start_url: str
    sitemap_url: str | None = None  # None: the sitemaps robots.txt lists, if any
    include_patterns: Sequence[str] = ()  # when set, a URL must match one (the start URL is always crawled)
    exclude_patterns: Sequence[str] = ()
    # 5 links deep reaches nearly every page of a documentation or help site from its home page.
    max_depth: int = 5
    # 500 pages: a large help centre, and a bounded embedding bill for one source.
    max_pages: int = 500
    # 1 s between requests to one host: the customary crawler courtesy; robots.txt Crawl-delay wins if larger.
    delay_s: float = 1.0
    user_agent: str = USER_AGENT
    respect_robots: bool = True

    def __post_init__(self) -> None:
        start = canonicalize_url(self.start_url)
        if start is None:
            raise ValueError(f"start_url must be an http(s) URL with a host: {self.start_url!r}")
        if self.sitemap_url is not None and canonicalize_url(self.sitemap_url) is None:
            raise ValueError(f"sitemap_url must be an http(s) URL with a host: {self.sitemap_url!r}")
        if self.max_depth < 0 or self.max_pages < 1 or self.delay_s < 0:
            raise ValueError("max_depth must be >= 0, max_pages >= 1 and delay_s >= 0")
        object.__setattr__(self, "include_patterns", tuple(self.include_patterns))
        object.__setattr__(self, "exclude_patterns", tuple(self.exclude_patterns))
        for pattern in (*self.include_patterns, *self.exclude_patterns):
            if pattern.startswith("re:"):
                try:
                    re.compile(pattern[3:])
                except re.error as exc:
                    raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc

    @cached_property
    def start(self) -> str:
        """The canonical start URL."""
        return canonicalize_url(self.start_url) or self.start_url

    @cached_property
    def site(self) -> str:
        """The site every crawled URL must belong to (see :func:`site_of`)."""
        return site_of(self.start)

    @property
    def agent_token(self) -> str:
        """The product token robots.txt groups are matched against (``CortexBot``)."""
        return self.user_agent.split("/", 1)[0].strip() or self.user_agent

    def in_scope(self, url: str) -> bool:
        """Whether a canonical URL belongs to this crawl: same site and allowed by the patterns."""
        if site_of(url) != self.site:
            return False
        if url == self.start:
            return True
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        if self.include_patterns and not any(_matches(pattern, target) for pattern in self.include_patterns):
            return False
        return not any(_matches(pattern, target) for pattern in self.exclude_patterns)


def _matches(pattern: str, target: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], target) is not None
    return fnmatch.fnmatchcase(target, pattern)


# -- pages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageAnalysis:
    """What an HTML page yields: title, main text, outgoing links and robots directives."""

    title: str
    text: str  # trafilatura's main text as markdown, "" when none was found
    links: list[str]  # canonical, unique, in document order; rel=nofollow links left out
    canonical: str | None  # <link rel=canonical>, canonicalised
    noindex: bool
    nofollow: bool


def _tokens(value: str | None) -> set[str]:
    return {token for token in re.split(r"[\s,]+", (value or "").lower()) if token}


def analyse_html(body: bytes, *, url: str, charset: str | None = None, robots_header: str = "") -> PageAnalysis:
    """Read a page's links and directives, and extract its main text with trafilatura, hidden text left out."""
    parser = None
    if charset:
        try:
            parser = lxml.html.HTMLParser(encoding=charset)
        except LookupError:
            parser = None
    try:
        document = lxml.html.document_fromstring(body, parser=parser)
    except (ValueError, etree.ParserError):
        return PageAnalysis(title="", text="", links=[], canonical=None, noindex=False, nofollow=False)
    base = url
    for element in document.iter("base"):
        if element.get("href"):
            base = urljoin(url, element.get("href", "").strip())
            break
    directives = _tokens(robots_header)
    for meta in document.iter("meta"):
        if meta.get("name", "").strip().lower() in ("robots", "cortexbot"):
            directives |= _tokens(meta.get("content"))
    noindex = bool(directives & {"noindex", "none"})
    nofollow = bool(directives & {"nofollow", "none"})
    canonical = None
    for link in document.iter("link"):
        if "canonical" in _tokens(link.get("rel")) and link.get("href"):
            canonical = canonicalize_url(link.get("href", ""), base=base)
            break
    # Links no visitor can see are not followed either: hidden links are the classic crawler trap.
    drop_hidden(document)
    links: dict[str, None] = {}
    for anchor in document.iter("a"):
        href = anchor.get("href")
        if href and "nofollow" not in _tokens(anchor.get("rel")):
            target = canonicalize_url(href, base=base)
            if target is not None:
                links[target] = None
    title = " ".join((document.findtext(".//title") or "").split())
    if not title:
        heading = document.find(".//h1")
        title = " ".join(heading.text_content().split()) if heading is not None else ""
    # trafilatura's own decoding and parse (what extract(body) does), with hidden elements removed in between.
    tree = trafilatura.load_html(body)
    text = None
    if tree is not None:
        drop_hidden(tree)
        text = trafilatura.extract(
            tree,
            url=url,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            output_format="markdown",
        )
    return PageAnalysis(
        title=title,
        text=(text or "").strip(),
        links=list(links),
        canonical=canonical,
        noindex=noindex,
        nofollow=nofollow,
    )


# -- sitemaps --------------------------------------------------------------------------------------------


class SitemapError(ValueError):
    """A sitemap that is not one, too large, or uses DTDs/entities (refused: entity expansion attacks)."""


@dataclass(frozen=True)
class SitemapDocument:
    """A parsed sitemap: page URLs (urlset) or child sitemap URLs (sitemapindex)."""

    kind: Literal["urlset", "sitemapindex"]
    locations: list[str]


def parse_sitemap_document(xml: bytes) -> SitemapDocument:
    """Parse a sitemap or sitemap index with expat, refusing any DTD or entity declaration."""
    if len(xml) > _MAX_SITEMAP_BYTES:
        raise SitemapError(f"sitemap larger than {_MAX_SITEMAP_BYTES} bytes")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[str] = []
    stack: list[str] = []
    text: list[str] = []
    locations: list[str] = []

    def refuse(*_: object) -> NoReturn:
        raise SitemapError("sitemaps with a DTD or entity declarations are refused")

    def start(name: str, _attributes: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]  # "namespace-uri local-name"
        if not root:
            root.append(local)
        stack.append(local)
        text.clear()

    def end(name: str) -> None:
        local = stack.pop()
        if local == "loc" and stack and stack[-1] in ("url", "sitemap") and len(locations) < _MAX_SITEMAP_URLS:
            location = "".join(text).strip()
            if location:
                locations.append(location)

    def characters(data: str) -> None:
        if stack and stack[-1] == "loc":
            text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise SitemapError(f"not well-formed XML: {exc}") from exc
    kind = root[0] if root else "missing"
    if kind == "urlset":
        return SitemapDocument(kind="urlset", locations=locations)
    if kind == "sitemapindex":
        return SitemapDocument(kind="sitemapindex", locations=locations)
    raise SitemapError(f"not a sitemap: the root element is {kind}")


def parse_sitemap(xml: bytes) -> list[str]:
    """The ``<loc>`` URLs of a sitemap (pages) or sitemap index (child sitemaps); gzip is undone."""
    return parse_sitemap_document(_gunzip_if_needed(xml)).locations


def _gunzip_if_needed(data: bytes) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        inflated = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data, _MAX_SITEMAP_BYTES + 1)
    except zlib.error as exc:
        raise SitemapError(f"corrupt gzip: {exc}") from exc
    if len(inflated) > _MAX_SITEMAP_BYTES:
        raise SitemapError(f"sitemap larger than {_MAX_SITEMAP_BYTES} bytes once decompressed")
    return inflated


# -- the crawler -----------------------------------------------------------------------------------------


@dataclass
class _HostRules:
    robots: Protego | None = None  # None: everything allowed
    refusal: str | None = None  # robots.txt unavailable: the host is not crawled at all
    delay_s: float = 0.0
    sitemaps: list[str] = field(default_factory=list)


class Crawler:
    """Crawl one site into ``on_page``, recording every URL's outcome in the frontier."""

    def __init__(
        self,
        *,
        config: CrawlConfig,
        fetcher: SafeFetcher,
        frontier: CrawlFrontier,
        on_page: OnPage,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.config = config
        self.fetcher = fetcher
        self.frontier = frontier
        self.on_page = on_page
        self.should_stop = should_stop
        self._rules: dict[str, _HostRules] = {}
        self._last_response_at: dict[str, float] = {}
        self._requests = 0
        self._warnings: list[str] = []

    async def run(self) -> CrawlSummary:
        """Crawl until the frontier is empty, the page limit is reached, or should_stop says pause/cancel."""
        self._requests = 0
        self._warnings = []
        counts = await self.frontier.counts()
        pages = counts.get("fetched", 0) + counts.get("not_modified", 0)
        visits = pages + counts.get("failed", 0) + counts.get("skipped", 0)
        visit_limit = self.config.max_pages * _MAX_VISITS_PER_PAGE
        signal = await self._stop_signal()
        if signal is not None:
            return await self._summary(signal)
        await self.frontier.add([(self.config.start, 0)])
        signal = await self._load_sitemaps()
        if signal is not None:
            return await self._summary(signal)
        visited: set[str] = set()
        while pages < self.config.max_pages:
            batch = await self.frontier.next_batch(_BATCH_SIZE)
            if not batch:
                return await self._summary(None)
            for url, depth in batch:
                if pages >= self.config.max_pages:
                    break
                if url in visited:  # a frontier that does not dequeue recorded URLs would loop forever
                    raise RuntimeError(f"the frontier returned {url} again after it was recorded")
                visited.add(url)
                if visits >= visit_limit:
                    self._warnings.append(f"stopped after {visits} URLs that yielded only {pages} pages")
                    return await self._summary(None, page_limit_reached=True)
                signal = await self._stop_signal()
                if signal is not None:
                    return await self._summary(signal)
                outcome = await self._visit(url, depth)
                await self.frontier.record(url, outcome)
                visits += 1
                if outcome.status in ("fetched", "not_modified"):
                    pages += 1
        return await self._summary(None, page_limit_reached=True)

    async def _stop_signal(self) -> StopSignal:
        if self.should_stop is None:
            return None
        return await self.should_stop()

    async def _summary(self, signal: StopSignal, *, page_limit_reached: bool = False) -> CrawlSummary:
        state: CrawlState = "paused" if signal == "pause" else "cancelled" if signal == "cancel" else "completed"
        return CrawlSummary(
            state=state,
            counts=await self.frontier.counts(),
            requests=self._requests,
            page_limit_reached=page_limit_reached,
            warnings=list(self._warnings),
        )

    # -- politeness and robots.txt --------------------------------------------------------------------

    async def _polite_fetch(
        self,
        url: str,
        rules: _HostRules,
        *,
        max_bytes: int | None = None,
        accept_types: frozenset[str] | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """Fetch once the host's politeness delay has passed since its previous response ended."""
        host = urlsplit(url).netloc
        loop = asyncio.get_running_loop()
        last = self._last_response_at.get(host)
        if last is not None:
            wait = last + rules.delay_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._requests += 1
        try:
            return await self.fetcher.fetch(
                url,
                headers={"User-Agent": self.config.user_agent, **(headers or {})},
                max_bytes=max_bytes,
                accept_types=accept_types,
                follow_redirects=follow_redirects,
            )
        finally:
            self._last_response_at[host] = loop.time()

    async def _rules_for(self, url: str) -> _HostRules:
        """robots.txt of the URL's origin, fetched once per run."""
        origin = _origin(url)
        rules = self._rules.get(origin)
        if rules is not None:
            return rules
        rules = _HostRules(delay_s=self.config.delay_s)
        self._rules[origin] = rules
        if not self.config.respect_robots:
            return rules
        robots_url = f"{origin}/robots.txt"
        try:
            result = await self._polite_fetch(robots_url, rules, max_bytes=_MAX_ROBOTS_BYTES)
        except HttpStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                return rules  # no robots.txt: everything is allowed
            rules.refusal = f"robots.txt answered HTTP {exc.status}; the host is not crawled until it is readable"
            return rules
        except BlockedAddress as exc:
            rules.refusal = f"{exc.code}: {exc.message}"
            return rules
        except FetchError as exc:
            rules.refusal = f"robots.txt could not be fetched ({exc.code}: {exc.message}); the host is not crawled"
            return rules
        rules.robots = Protego.parse(result.body.decode("utf-8", errors="replace"))
        crawl_delay = rules.robots.crawl_delay(self.config.agent_token)
        if crawl_delay is not None:
            rules.delay_s = max(self.config.delay_s, min(float(crawl_delay), _MAX_CRAWL_DELAY_S))
        rules.sitemaps = list(rules.robots.sitemaps)
        return rules

    # -- sitemaps -------------------------------------------------------------------------------------

    async def _load_sitemaps(self) -> StopSignal:
        """Seed the frontier (depth 0) with the in-scope URLs of the configured or robots.txt sitemaps."""
        start_rules = await self._rules_for(self.config.start)
        sources = [self.config.sitemap_url] if self.config.sitemap_url else start_rules.sitemaps
        queue = deque((source, 0) for source in sources)
        seen_files: set[str] = set()
        found: dict[str, None] = {}
        while queue and len(seen_files) < _MAX_SITEMAP_FILES and len(found) < _MAX_SITEMAP_URLS:
            sitemap_url, level = queue.popleft()
            canonical = canonicalize_url(sitemap_url)
            if canonical is None or canonical in seen_files:
                continue
            seen_files.add(canonical)
            signal = await self._stop_signal()
            if signal is not None:
                return signal
            rules = await self._rules_for(canonical)
            try:
                result = await self._polite_fetch(
                    canonical, rules, max_bytes=min(self.fetcher.max_bytes, _MAX_SITEMAP_BYTES)
                )
                document = parse_sitemap_document(_gunzip_if_needed(result.body))
            except (FetchError, SitemapError) as exc:
                self._warnings.append(f"sitemap {canonical} skipped: {exc}")
                log.warning("sitemap %s skipped: %s", canonical, exc)
                continue
            if document.kind == "sitemapindex":
                if level < _MAX_SITEMAP_LEVELS:
                    queue.extend((location, level + 1) for location in document.locations)
                continue
            for location in document.locations:
                page = canonicalize_url(location)
                if page is not None and self.config.in_scope(page):
                    found[page] = None
        if found:
            await self.frontier.add([(page, 0) for page in islice(found, _MAX_SITEMAP_URLS)])
        return None

    # -- one page -------------------------------------------------------------------------------------

    async def _visit(self, url: str, depth: int) -> PageOutcome:
        """Fetch one URL and turn the response into an outcome (and, for new content, an on_page call)."""
        rules = await self._rules_for(url)
        if rules.refusal is not None:
            return PageOutcome(status="failed", error=rules.refusal)
        if rules.robots is not None and not rules.robots.can_fetch(url, self.config.agent_token):
            return PageOutcome(status="skipped", error="disallowed by robots.txt")
        previous = await self.frontier.previous(url)
        headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        try:
            # Redirects come back to the crawler: the target is queued like a link, so it gets the same
            # scope, robots.txt, politeness and duplicate checks, and each URL is recorded under its own name.
            result = await self._polite_fetch(
                url, rules, headers=headers, accept_types=HTML_TYPES, follow_redirects=False
            )
        except UnsupportedContentType as exc:
            return PageOutcome(status="skipped", error=f"not an HTML page ({exc.content_type or 'no content type'})")
        except HttpStatusError as exc:
            return PageOutcome(status="failed", http_status=exc.status, error=exc.message)
        except FetchError as exc:
            return PageOutcome(status="failed", error=f"{exc.code}: {exc.message}")
        etag = result.headers.get("etag")
        last_modified = result.headers.get("last-modified")
        if result.status == 304:
            return PageOutcome(
                status="not_modified",
                http_status=304,
                content_hash=previous.content_hash if previous else None,
                etag=etag or (previous.etag if previous else None),
                last_modified=last_modified or (previous.last_modified if previous else None),
            )
        if 300 <= result.status < 400:
            return await self._redirect(url, depth, status=result.status, location=result.headers.get("location", ""))
        try:
            page = await asyncio.to_thread(
                analyse_html,
                result.body,
                url=url,
                charset=result.charset,
                robots_header=result.headers.get("x-robots-tag", ""),
            )
        except Exception as exc:  # a parser crash on one hostile page must not end the crawl
            log.warning("could not parse %s", url, exc_info=True)
            return PageOutcome(status="failed", http_status=result.status, error=f"could not parse the page: {exc}")

        def skipped(reason: str, content_hash: str | None = None) -> PageOutcome:
            return PageOutcome(
                status="skipped",
                http_status=result.status,
                error=reason,
                content_hash=content_hash,
                etag=etag,
                last_modified=last_modified,
                title=page.title,
            )

        if not page.nofollow and depth < self.config.max_depth:
            await self._enqueue(page.links, depth + 1)
        if page.canonical and page.canonical != url and self.config.in_scope(page.canonical):
            await self.frontier.add([(page.canonical, depth)])
            return skipped(f"canonical URL is {page.canonical}")
        if page.noindex:
            return skipped("the page asks not to be indexed (noindex)")
        if not page.text:
            return skipped("no main text found on the page")
        content_hash = hashlib.sha256(page.text.encode("utf-8")).hexdigest()
        if previous is not None and previous.content_hash == content_hash:
            return PageOutcome(
                status="not_modified",
                http_status=result.status,
                content_hash=content_hash,
                etag=etag,
                last_modified=last_modified,
                title=page.title,
            )
        duplicate_of = await self.frontier.seen_content(content_hash)
        if duplicate_of is not None and duplicate_of != url:
            return skipped(f"duplicate of {duplicate_of}", content_hash)
        await self.on_page(
            CrawledPage(
                url=url,
                title=page.title,
                text=page.text,
                content_hash=content_hash,
                etag=etag,
                last_modified=last_modified,
                depth=depth,
            )
        )
        return PageOutcome(
            status="fetched",
            http_status=result.status,
            content_hash=content_hash,
            etag=etag,
            last_modified=last_modified,
            title=page.title,
        )

    async def _redirect(self, url: str, depth: int, *, status: int, location: str) -> PageOutcome:
        """Queue a redirect's target (same depth) and record the redirecting URL as skipped."""
        target = canonicalize_url(location, base=url)
        if target is None:
            return PageOutcome(status="failed", http_status=status, error=f"unusable redirect location {location!r}")
        if target == url:
            return PageOutcome(status="failed", http_status=status, error="the page redirects to itself")
        # A start URL may move anywhere on its own site (/ -> /en/) even when the patterns would not match.
        start_moved = url == self.config.start and site_of(target) == site_of(url)
        if not (self.config.in_scope(target) or start_moved):
            return PageOutcome(status="skipped", http_status=status, error=f"redirects out of scope to {target}")
        await self.frontier.add([(target, depth)])
        return PageOutcome(status="skipped", http_status=status, error=f"redirects to {target}")

    async def _enqueue(self, links: Iterable[str], depth: int) -> None:
        in_scope = [(link, depth) for link in links if self.config.in_scope(link)]
        if in_scope:
            await self.frontier.add(in_scope)

"""The crawl loop: take queued URLs from the frontier, visit each, follow links, redirects and sitemaps."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Iterable
from itertools import islice

from cortex.fetch import FetchError, HttpStatusError, SafeFetcher, UnsupportedContentType
from cortex.knowledge.crawl.config import CrawlConfig
from cortex.knowledge.crawl.frontier import (
    CrawledPage,
    CrawlFrontier,
    CrawlState,
    CrawlSummary,
    OnPage,
    PageOutcome,
    ShouldStop,
    StopSignal,
)
from cortex.knowledge.crawl.pages import HTML_TYPES, analyse_html
from cortex.knowledge.crawl.robots import PoliteFetcher
from cortex.knowledge.crawl.sitemaps import (
    MAX_SITEMAP_BYTES,
    MAX_SITEMAP_URLS,
    SitemapError,
    gunzip_if_needed,
    parse_sitemap_document,
)
from cortex.knowledge.crawl.urls import canonicalize_url, site_of

log = logging.getLogger("cortex.knowledge.crawl")

# 20 URLs per frontier round trip: few queries, and a pause never waits on more than one page.
_BATCH_SIZE = 20
# Index files nest at most once by protocol; 2 levels and 50 files bound a hostile chain of indexes.
_MAX_SITEMAP_LEVELS = 2
_MAX_SITEMAP_FILES = 50
# At most 10 URLs visited per page the crawl may index: a site of endless redirects, duplicates or broken
# links cannot keep a crawl busy forever, while a normal site (a few broken links per page) never hits it.
_MAX_VISITS_PER_PAGE = 10


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
        self._polite = PoliteFetcher(fetcher, config)
        self._warnings: list[str] = []

    async def run(self) -> CrawlSummary:
        """Crawl until the frontier is empty, the page limit is reached, or should_stop says pause/cancel."""
        self._polite.requests = 0
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
            requests=self._polite.requests,
            page_limit_reached=page_limit_reached,
            warnings=list(self._warnings),
        )

    async def _load_sitemaps(self) -> StopSignal:
        """Seed the frontier (depth 0) with the in-scope URLs of the configured or robots.txt sitemaps."""
        start_rules = await self._polite.rules_for(self.config.start)
        sources = [self.config.sitemap_url] if self.config.sitemap_url else start_rules.sitemaps
        queue = deque((source, 0) for source in sources)
        seen_files: set[str] = set()
        found: dict[str, None] = {}
        while queue and len(seen_files) < _MAX_SITEMAP_FILES and len(found) < MAX_SITEMAP_URLS:
            sitemap_url, level = queue.popleft()
            canonical = canonicalize_url(sitemap_url)
            if canonical is None or canonical in seen_files:
                continue
            seen_files.add(canonical)
            signal = await self._stop_signal()
            if signal is not None:
                return signal
            rules = await self._polite.rules_for(canonical)
            try:
                result = await self._polite.fetch(
                    canonical, rules, max_bytes=min(self.fetcher.max_bytes, MAX_SITEMAP_BYTES)
                )
                document = parse_sitemap_document(gunzip_if_needed(result.body))
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
            await self.frontier.add([(page, 0) for page in islice(found, MAX_SITEMAP_URLS)])
        return None

    async def _visit(self, url: str, depth: int) -> PageOutcome:
        """Fetch one URL and turn the response into an outcome (and, for new content, an on_page call)."""
        rules = await self._polite.rules_for(url)
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
            result = await self._polite.fetch(
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

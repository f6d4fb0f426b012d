"""What a crawl remembers: the records exchanged with the frontier and the job, and the frontier itself.

The frontier keeps the crawl's persistent state (Postgres in the crawl job, see ``ingest.crawl``), so a
paused crawl resumes where it stopped and a re-crawl sends conditional requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

OutcomeStatus = Literal["fetched", "not_modified", "failed", "skipped"]
StopSignal = Literal["pause", "cancel"] | None
CrawlState = Literal["completed", "paused", "cancelled"]


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


OnPage = Callable[[CrawledPage], Awaitable[None]]
ShouldStop = Callable[[], Awaitable[StopSignal]]


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

"""A CrawlFrontier in dicts, for the crawler's tests; :meth:`start_recrawl` begins the next crawl."""

from __future__ import annotations

from itertools import islice

from cortex.knowledge.crawl import OutcomeStatus, PageOutcome, PreviousFetch


class InMemoryFrontier:
    """The frontier protocol over dicts, plus what a test inspects: outcomes, URLs by status, history."""

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

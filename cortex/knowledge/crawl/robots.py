"""Crawling politely: each origin's robots.txt, read once, and a delay between two requests to one host."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from cortex.fetch import BlockedAddress, FetchError, FetchResult, HttpStatusError, SafeFetcher
from cortex.knowledge.crawl.config import CrawlConfig
from cortex.knowledge.crawl.urls import origin_of

# 500 KiB: Google's limit for robots.txt; a larger one counts as unreadable (the host is not crawled).
MAX_ROBOTS_BYTES = 500 * 1024
# A site asking for more than 30 s between requests would make a crawl last days; 30 s is still polite.
MAX_CRAWL_DELAY_S = 30.0


@dataclass
class HostRules:
    """What an origin's robots.txt allows, and how long to wait between two of its requests."""

    robots: Protego | None = None  # None: everything allowed
    refusal: str | None = None  # robots.txt unavailable: the host is not crawled at all
    delay_s: float = 0.0
    sitemaps: list[str] = field(default_factory=list)


class PoliteFetcher:
    """The guarded fetcher as a crawl uses it: one host's requests spaced out, robots.txt obeyed."""

    def __init__(self, fetcher: SafeFetcher, config: CrawlConfig) -> None:
        self.fetcher = fetcher
        self.config = config
        self.requests = 0  # HTTP requests sent: pages, robots.txt, sitemaps
        self._rules: dict[str, HostRules] = {}
        self._last_response_at: dict[str, float] = {}

    async def fetch(
        self,
        url: str,
        rules: HostRules,
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
        self.requests += 1
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

    async def rules_for(self, url: str) -> HostRules:
        """robots.txt of the URL's origin, fetched once per crawler."""
        origin = origin_of(url)
        rules = self._rules.get(origin)
        if rules is not None:
            return rules
        rules = HostRules(delay_s=self.config.delay_s)
        self._rules[origin] = rules
        if not self.config.respect_robots:
            return rules
        try:
            result = await self.fetch(f"{origin}/robots.txt", rules, max_bytes=MAX_ROBOTS_BYTES)
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
            rules.delay_s = max(self.config.delay_s, min(float(crawl_delay), MAX_CRAWL_DELAY_S))
        rules.sitemaps = list(rules.robots.sitemaps)
        return rules

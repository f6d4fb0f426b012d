"""What to crawl: the start URL, its site, the path patterns and the limits."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from cortex.fetch import USER_AGENT
from cortex.knowledge.crawl.urls import canonicalize_url, site_of


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

"""The web crawler: what to fetch, in which order, how politely, and what a page yields.

No database and no Ray here: the crawl's persistent state sits behind :class:`CrawlFrontier` (Postgres in
the crawl job), pages leave through an ``on_page`` callback (chunk and embed), and the job steers with
``should_stop`` (pause / cancel). Every request goes through :class:`~cortex.fetch.SafeFetcher`,
so a crawl can never reach a private address.
"""

from cortex.knowledge.crawl.config import CrawlConfig
from cortex.knowledge.crawl.crawler import Crawler
from cortex.knowledge.crawl.frontier import (
    CrawledPage,
    CrawlFrontier,
    CrawlSummary,
    OutcomeStatus,
    PageOutcome,
    PreviousFetch,
    StopSignal,
)
from cortex.knowledge.crawl.pages import analyse_html
from cortex.knowledge.crawl.sitemaps import SitemapError, parse_sitemap, parse_sitemap_document
from cortex.knowledge.crawl.urls import canonicalize_url

__all__ = [
    "CrawlConfig",
    "CrawlFrontier",
    "CrawlSummary",
    "CrawledPage",
    "Crawler",
    "OutcomeStatus",
    "PageOutcome",
    "PreviousFetch",
    "SitemapError",
    "StopSignal",
    "analyse_html",
    "canonicalize_url",
    "parse_sitemap",
    "parse_sitemap_document",
]

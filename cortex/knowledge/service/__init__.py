"""Knowledge logic: sources (files, collections, crawls), FAQs, search, and the ingestion jobs behind them.

Heavy work (parse, chunk, embed, crawl) runs as Ray jobs (`ingest/`); this service accepts the work, keeps
its record in Postgres and shows progress. The job watcher notices a Ray job that died and marks its
source failed with the reason, so nothing stays "running" forever. One module per domain; the router
depends on :class:`KnowledgeService`, which is all of them.
"""

from cortex.knowledge.service.crawls import CrawlService
from cortex.knowledge.service.faqs import FaqService, faq_upgrader, upgrade_faqs
from cortex.knowledge.service.search import SearchService
from cortex.knowledge.service.sources import SourceService
from cortex.knowledge.service.watcher import watch_jobs


class KnowledgeService(SourceService, CrawlService, FaqService, SearchService):
    """What one principal's workspace has taught its bots."""


__all__ = ["KnowledgeService", "faq_upgrader", "upgrade_faqs", "watch_jobs"]

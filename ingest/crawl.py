"""Crawl a site into its bot's knowledge (a Ray job).

    python -m ingest.crawl --source <crawl source id> [--resume]

The crawler (cortex.knowledge.crawl) walks the site politely through the SSRF-safe fetcher
and keeps its frontier in Postgres, so a paused crawl resumes where it stopped and a re-crawl
sends conditional requests (unchanged pages are not re-embedded). New and changed pages are
chunked here and embedded on a Ray actor, a batch of pages at a time; pages that now fail
(404, gone) lose their chunks. Pause and cancel arrive through the source's status.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from cortex.fetch import SafeFetcher
from cortex.knowledge import store
from cortex.knowledge.crawl import CrawlConfig, CrawledPage, Crawler, PageOutcome, PreviousFetch, StopSignal
from cortex.knowledge.index import IndexedDocument, text_chunks
from ingest.common import EMBED_ACTOR_CPUS, EmbedBatch, JobContext, JobFailed, finish_ready, run_job

# Pages embedded together: one actor call per ~16 pages (~50-100 chunks) keeps the model busy
# while the crawler waits out its politeness delay.
PAGES_PER_BATCH = 16


class PostgresFrontier:
    """The crawler's frontier in `crawl_pages` (see cortex.knowledge.crawl.CrawlFrontier)."""

    def __init__(self, pool: asyncpg.Pool, source_id: uuid.UUID) -> None:
        self.pool = pool
        self.source_id = source_id

    async def add(self, urls: list[tuple[str, int]]) -> int:
        if not urls:
            return 0
        async with self.pool.acquire() as conn:
            return await store.add_pages(conn, source_id=self.source_id, pages=urls)

    async def next_batch(self, limit: int) -> list[tuple[str, int]]:
        async with self.pool.acquire() as conn:
            rows = await store.queued_pages(conn, source_id=self.source_id, limit=limit)
        return [(row["url"], row["depth"]) for row in rows]

    async def record(self, url: str, outcome: PageOutcome) -> None:
        fields: dict[str, Any] = {"status": outcome.status, "http_status": outcome.http_status, "error": outcome.error}
        for name in ("content_hash", "etag", "last_modified", "title"):
            value = getattr(outcome, name)
            if value is not None:  # a 304 keeps what the last full fetch stored
                fields[name] = value
        async with self.pool.acquire() as conn:
            await store.record_page(conn, source_id=self.source_id, url=url, fields=fields)

    async def previous(self, url: str) -> PreviousFetch | None:
        async with self.pool.acquire() as conn:
            row = await store.get_page(conn, source_id=self.source_id, url=url)
        if row is None or (row["etag"] is None and row["last_modified"] is None and row["content_hash"] is None):
            return None
        return PreviousFetch(etag=row["etag"], last_modified=row["last_modified"], content_hash=row["content_hash"])

    async def seen_content(self, content_hash: str) -> str | None:
        async with self.pool.acquire() as conn:
            return await store.page_with_content(conn, source_id=self.source_id, content_hash=content_hash)

    async def counts(self) -> dict[str, int]:
        async with self.pool.acquire() as conn:
            counts = await store.page_counts(conn, source_id=self.source_id)
        return {
            name: counts.get(name, 0) for name in ("found", "queued", "fetched", "not_modified", "failed", "skipped")
        }


class PageIndexer:
    """Chunks crawled pages and embeds them on a Ray actor, a batch of pages at a time."""

    def __init__(self, context: JobContext) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(logging_level=logging.WARNING, log_to_driver=False)
        self.context = context
        self.actor: Any = ray.remote(num_cpus=EMBED_ACTOR_CPUS)(EmbedBatch).remote()
        self.pages: list[CrawledPage] = []
        self.chunks = 0

    async def add(self, page: CrawledPage) -> None:
        self.pages.append(page)
        if len(self.pages) >= PAGES_PER_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self.pages:
            return
        pages, self.pages = self.pages, []
        documents: list[IndexedDocument] = []
        for page in pages:
            chunks = text_chunks(
                source_id=self.context.source_id,
                document_key=page.url,
                title=page.title or page.url,
                text=page.text,
                url=page.url,
            )
            documents.append(IndexedDocument(document_key=page.url, chunks=chunks))
        texts = [chunk.embed_text for document in documents for chunk in document.chunks]
        if texts:
            import numpy as np

            batch = await self.actor.__call__.remote({"embed_text": np.array(texts, dtype=object)})
            vectors = iter(batch["embedding"].tolist())
            for document in documents:
                document.embeddings = [next(vectors) for _ in document.chunks]
        await self.context.indexer.write_documents(
            workspace_id=self.context.workspace_id,
            bot_id=self.context.bot_id,
            source_id=self.context.source_id,
            documents=documents,
        )
        self.chunks += len(texts)


async def crawl(context: JobContext, args: argparse.Namespace) -> None:
    config_fields = context.source["config"] or {}
    try:
        config = CrawlConfig(
            start_url=config_fields["start_url"],
            sitemap_url=config_fields.get("sitemap_url"),
            include_patterns=config_fields.get("include") or (),
            exclude_patterns=config_fields.get("exclude") or (),
            max_depth=int(config_fields.get("max_depth", 5)),
            max_pages=int(config_fields.get("max_pages", 500)),
            delay_s=float(config_fields.get("delay_s", 1.0)),
        )
    except (KeyError, ValueError) as error:
        raise JobFailed("bad_config", f"This crawl's settings are invalid: {error}") from None
    frontier = PostgresFrontier(context.pool, context.source_id)
    if not args.resume:
        async with context.pool.acquire() as conn:
            await store.requeue_pages(conn, source_id=context.source_id)
    pages = PageIndexer(context)

    async def should_stop() -> StopSignal:
        status = await context.current_status()
        counts: dict[str, Any] = await frontier.counts()
        await context.progress(stage="crawling", **counts)
        if status == "paused":
            return "pause"
        if status in (None, "cancelled"):
            return "cancel"
        return None

    async with SafeFetcher.from_settings(context.settings) as fetcher:
        crawler = Crawler(config=config, fetcher=fetcher, frontier=frontier, on_page=pages.add, should_stop=should_stop)
        summary = await crawler.run()
    await pages.flush()
    counts = await frontier.counts()
    await context.progress(force=True, stage=summary.state, warnings=summary.warnings, **counts)
    # Pages that no longer answer (404, gone, now excluded) leave the bot's knowledge.
    async with context.pool.acquire() as conn:
        gone = await store.unavailable_pages(conn, source_id=context.source_id)
    if gone:
        await context.indexer.remove_documents(
            workspace_id=context.workspace_id, bot_id=context.bot_id, source_id=context.source_id, document_keys=gone
        )
    if summary.state == "paused":
        await context.finish_job("SUCCEEDED", "paused")
        return
    if summary.state == "cancelled":
        await context.update(status="cancelled", next_run_at=None)
        await context.finish_job("SUCCEEDED", "cancelled")
        return
    if counts.get("fetched", 0) + counts.get("not_modified", 0) == 0:
        raise JobFailed("no_pages", f"No page could be crawled from {config.start_url}; see the page list for why.")
    schedule_s = context.source["schedule_s"]
    next_run = datetime.now(UTC) + timedelta(seconds=schedule_s) if schedule_s else None
    await finish_ready(
        context,
        message=f"{counts.get('fetched', 0)} pages indexed, {counts.get('not_modified', 0)} unchanged, "
        f"{counts.get('failed', 0)} failed",
        next_run_at=next_run,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue a paused crawl instead of starting over")


crawl.add_arguments = _add_arguments  # type: ignore[attr-defined]


if __name__ == "__main__":
    run_job(crawl, "Crawl a site into its bot's knowledge.")

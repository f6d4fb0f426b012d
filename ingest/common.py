"""What every ingestion job shares: its context (settings, pool, indexes), status reporting, and the
Ray Data pipeline that chunks documents and embeds the chunks on an actor pool.

A job is handed a source id by the service (or `cortex ingest`), which already checked the
tenant; it reads and writes only that source's rows. It runs under the runner every job shares
(ingest/runner.py) and reports through the source's record (`SourceReporter`): `running` with
progress, then `ready` with counts, or `failed` with a reason the owner can act on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from cortex.db.pool import create_pool
from cortex.knowledge import objects, store
from cortex.knowledge.chunking import chunk_document, embedding_text
from cortex.knowledge.index import IndexChunk, IndexedDocument, Indexer
from cortex.knowledge.parsing import ParsedDocument, Section
from cortex.knowledge.vectors import VectorStore
from cortex.models.embedder import DIMENSIONS
from cortex.settings import Settings, get_settings
from ingest import runner
from ingest.runner import JobFailed, Reporter

__all__ = ["JobContext", "JobFailed", "SourceReporter", "run_job"]

log = logging.getLogger("ingest")
# Chunks written to Chroma and Postgres per transaction: big enough to amortise the round trips,
# small enough that a crash loses little and progress moves.
WRITE_BATCH_CHUNKS = 512
# Ray resources: the cluster's CPUs are mostly reserved by Serve replicas (2-core machines keep
# 0.4 free), so the chunking tasks and the embedding actor ask for slices. The actor still uses
# every core for its matrix products (torch threads), which is what the model needs.
CHUNK_TASK_CPUS = 0.05
EMBED_ACTOR_CPUS = 0.25
# Blocks are the unit Ray Data streams: ~100 documents a block lets embedded chunks (and the
# owner's progress bar) flow while later blocks are still chunked; at most 4 chunking tasks run
# at once, so worker processes (~1 s and ~150 MB each to start) are reused, not multiplied.
DOCUMENTS_PER_BLOCK = 100
CHUNK_TASKS = 4


def source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, type=uuid.UUID, help="the source's id (created by the API or CLI)")


@dataclass
class JobContext:
    settings: Settings
    pool: asyncpg.Pool
    vectors: VectorStore
    indexer: Indexer
    object_store: objects.ObjectStore
    source: asyncpg.Record
    job_id: str | None
    reporter: SourceReporter = field(init=False)

    def __post_init__(self) -> None:
        self.reporter = SourceReporter(self)

    @property
    def source_id(self) -> uuid.UUID:
        return self.source["id"]

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.source["workspace_id"]

    @property
    def bot_id(self) -> uuid.UUID:
        return self.source["bot_id"]

    async def update(self, **fields: Any) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await store.update_source(
                conn, workspace_id=self.workspace_id, source_id=self.source_id, fields=fields
            )
        if row is not None:  # None: the owner deleted the source meanwhile; nothing left to report on
            self.source = row
        return self.source

    async def progress(self, *, force: bool = False, **values: Any) -> None:
        await self.reporter.progress(force=force, **values)

    async def current_status(self) -> str | None:
        """The status the service has now (a pause or cancel arrives this way); None if the source is gone."""
        async with self.pool.acquire() as conn:
            row = await store.get_source_unscoped(conn, source_id=self.source_id)
        if row is None or (self.job_id and row["job_id"] != self.job_id):
            return None  # deleted, or superseded by a newer run
        return row["status"]

    async def finish_job(self, status: str, message: str | None = None) -> None:
        if self.job_id:
            async with self.pool.acquire() as conn:
                await store.finish_job(conn, job_id=self.job_id, status=status, message=message)

    async def close(self) -> None:
        await self.pool.close()


class SourceReporter(Reporter):
    """Knowledge's reporter: the source's record (status, progress, error) and its ingest_jobs row."""

    internal_error = "Ingestion stopped on an internal error; use re-index to try again (details in the job's logs)."

    def __init__(self, context: JobContext) -> None:
        super().__init__()
        self.context = context

    async def start(self) -> bool:
        await self.context.update(status="running", error=None, error_code=None)
        return True

    async def write_progress(self, values: dict[str, Any]) -> None:
        context = self.context
        async with context.pool.acquire() as conn:
            await store.merge_progress(
                conn, workspace_id=context.workspace_id, source_id=context.source_id, progress=values
            )

    async def record_success(self, counts: dict[str, Any], message: str | None) -> None:
        """`counts`: the source's columns to set with `ready` (chunk_count, document_count, indexed_at)."""
        await self.context.update(status="ready", **counts)
        await self.context.finish_job("SUCCEEDED", message)

    async def record_failure(self, code: str, message: str, detail: str | None) -> None:
        await self.context.update(status="failed", error_code=code, error=message)
        await self.context.finish_job("FAILED", detail)


async def open_context(args: argparse.Namespace, job_id: str | None) -> JobContext | None:
    """The job's context, or None when the source is gone or this run was superseded."""
    source_id: uuid.UUID = args.source
    settings = get_settings()
    # As the jobs' role, which may write only what ingestion writes, not as the knowledge service.
    pool = await create_pool(settings.resolved_jobs_database_url(), settings, schema="knowledge")
    async with pool.acquire() as conn:
        source = await store.get_source_unscoped(conn, source_id=source_id)
    if source is None or (job_id and source["job_id"] != job_id) or source["status"] == "cancelled":
        await pool.close()
        return None
    vectors = VectorStore(settings.resolved_chroma_url())

    async def no_embed(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("ingestion jobs pass embeddings computed by their actor pool")

    return JobContext(
        settings=settings,
        pool=pool,
        vectors=vectors,
        indexer=Indexer(pool=pool, vectors=vectors, embed=no_embed),
        object_store=objects.open_object_store(
            settings.resolved_object_store_url(), s3_endpoint_url=settings.s3_endpoint_url
        ),
        source=source,
        job_id=job_id,
    )


def run_job(main: Any, description: str) -> None:
    """Run an ingestion job on `--source` under the shared runner, reporting on the source."""
    runner.run_job(main, description, add_arguments=source_arguments, open_context=open_context)


# -- chunking and embedding -------------------------------------------------------------------------


def document_rows(source_id: uuid.UUID, documents: Iterable[tuple[str, ParsedDocument, str | None]]) -> list[dict]:
    """Ray Data input rows: (document key, parsed document, url) → one row per document."""
    return [
        {
            "source_id": str(source_id),
            "document_key": key,
            "url": url,
            "title": document.title,
            "sections": [
                {"heading_path": list(section.heading_path), "text": section.text, "page": section.page}
                for section in document.sections
            ],
        }
        for key, document, url in documents
    ]


def chunk_row(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One document row → its chunk rows (each says how many chunks its document has)."""
    document = ParsedDocument(
        title=row["title"],
        sections=[Section(list(s["heading_path"]), s["text"], s["page"]) for s in row["sections"]],
    )
    chunks = chunk_document(document, source_id=f"{row['source_id']}:{row['document_key']}")
    if not chunks:
        return [
            {
                "document_key": row["document_key"],
                "chunks_in_document": 0,
                "id": "",
                "ord": -1,
                "title": "",
                "text": "",
                "embed_text": "",
                "url": row["url"],
            }
        ]
    return [
        {
            "document_key": row["document_key"],
            "chunks_in_document": len(chunks),
            "id": chunk.id,
            "ord": chunk.ord,
            "title": chunk.title,
            "text": chunk.text,
            "embed_text": embedding_text(chunk),
            "url": row["url"] or "",  # "" not None: a column of strings survives Arrow as strings
        }
        for chunk in chunks
    ]


class EmbedBatch:
    """Ray Data actor: loads the model once, embeds batches of chunk rows."""

    def __init__(self) -> None:
        import torch

        from cortex.models.embedder import Embedder

        # Ray limits a fractional-CPU actor to one thread; the model's matrix products want all cores.
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        self.embedder = Embedder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(text) for text in batch["embed_text"]]
        live = [i for i, text in enumerate(texts) if text]
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if live:
            vectors[live] = np.asarray(self.embedder.embed([texts[i] for i in live]), dtype=np.float32)
        batch["embedding"] = vectors
        return batch


def embedded_chunks(rows: list[dict[str, Any]], *, batch_size: int) -> Iterator[dict[str, Any]]:
    """Ray Data: documents → chunks (tasks) → embeddings (actor pool), streamed back as chunk rows."""
    import ray

    if not ray.is_initialized():
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.verbose_stats_logs = False
    context.issue_detectors_config.detectors = []  # memory hints meant for big clusters, every 30 s
    dataset = (
        ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // DOCUMENTS_PER_BLOCK)))
        .flat_map(chunk_row, num_cpus=CHUNK_TASK_CPUS, compute=ray.data.TaskPoolStrategy(size=CHUNK_TASKS))
        .map_batches(
            EmbedBatch, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=EMBED_ACTOR_CPUS
        )
    )
    for batch in dataset.iter_batches(batch_size=batch_size, batch_format="numpy", prefetch_batches=2):
        for i in range(len(batch["id"])):
            yield {key: batch[key][i] for key in batch}


async def write_streamed(
    context: JobContext, chunks: Iterator[dict[str, Any]], *, total_documents: int
) -> dict[str, int]:
    """Group streamed chunk rows back into whole documents and write them in batches; returns counts."""
    pending: dict[str, list[dict[str, Any]]] = {}
    ready: list[IndexedDocument] = []
    ready_chunks = 0
    done_documents = 0
    totals = {"added": 0, "removed": 0, "chunks": 0, "documents": 0, "empty_documents": 0}

    async def flush() -> None:
        nonlocal ready, ready_chunks
        if not ready:
            return
        counts = await context.indexer.write_documents(
            workspace_id=context.workspace_id, bot_id=context.bot_id, source_id=context.source_id, documents=ready
        )
        totals["added"] += counts["added"]
        totals["removed"] += counts["removed"]
        ready, ready_chunks = [], 0

    async for row in _aiter(chunks):
        key = str(row["document_key"])
        if int(row["chunks_in_document"]) == 0:
            totals["empty_documents"] += 1
            done_documents += 1
            continue
        pending.setdefault(key, []).append(row)
        if len(pending[key]) < int(row["chunks_in_document"]):
            continue
        rows = sorted(pending.pop(key), key=lambda r: int(r["ord"]))
        ready.append(
            IndexedDocument(
                document_key=key,
                chunks=[
                    IndexChunk(
                        id=str(r["id"]),
                        ord=int(r["ord"]),
                        title=str(r["title"]),
                        text=str(r["text"]),
                        embed_text=str(r["embed_text"]),
                        url=(str(r["url"]) if r["url"] is not None else None),
                    )
                    for r in rows
                ],
                embeddings=[[float(x) for x in r["embedding"]] for r in rows],
            )
        )
        ready_chunks += len(rows)
        totals["chunks"] += len(rows)
        totals["documents"] += 1
        done_documents += 1
        if ready_chunks >= WRITE_BATCH_CHUNKS:
            await flush()
        await context.progress(
            stage="indexing", documents_total=total_documents, documents_done=done_documents, chunks=totals["chunks"]
        )
    await flush()
    await context.progress(
        force=True,
        stage="done",
        documents_total=total_documents,
        documents_done=done_documents,
        chunks=totals["chunks"],
    )
    return totals


async def _aiter(iterator: Iterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Pull from Ray Data's (blocking) iterator off the event loop, a batch of rows at a time."""
    sentinel = object()
    while True:
        item = await asyncio.to_thread(next, iterator, sentinel)
        if item is sentinel:
            return
        yield item  # type: ignore[misc]


async def finish_ready(context: JobContext, *, message: str | None = None, **fields: Any) -> None:
    async with context.pool.acquire() as conn:
        counts = await store.count_chunks(conn, workspace_id=context.workspace_id, source_id=context.source_id)
    await context.reporter.succeeded(
        {
            "chunk_count": counts["chunks"],
            "document_count": counts["documents"],
            "indexed_at": datetime.now(UTC),
            **fields,
        },
        message,
    )

"""Writing a bot's knowledge into both indexes: vectors in Chroma, text and BM25 terms in Postgres.

Postgres is the record: search takes passages' text from it, so a vector whose chunk is gone
(an interrupted delete) is never shown. Vectors are written first and idempotently (content-hash
ids), then the chunks in one transaction, then vectors of removed chunks are deleted.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from cortex import bus
from cortex.knowledge import store
from cortex.knowledge.chunking import Chunk, chunk_document, embedding_text
from cortex.knowledge.parsing import ParsedDocument, Section
from cortex.knowledge.vectors import VectorStore, chunk_collection, faq_collection

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class IndexChunk:
    """A chunk as the indexes keep it."""

    id: str
    ord: int
    title: str
    text: str
    embed_text: str
    url: str | None = None

    @classmethod
    def of(cls, chunk: Chunk, *, url: str | None = None) -> IndexChunk:
        return cls(
            id=chunk.id, ord=chunk.ord, title=chunk.title, text=chunk.text, embed_text=embedding_text(chunk), url=url
        )

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "ord": self.ord, "title": self.title, "url": self.url, "text": self.text}


def text_chunks(*, source_id: uuid.UUID, document_key: str, title: str, text: str, url: str | None) -> list[IndexChunk]:
    """A plain-text document (a collection entry, a crawled page) as the chunks the indexes keep."""
    parsed = ParsedDocument(title=title, sections=[Section([], text)])
    return [IndexChunk.of(chunk, url=url) for chunk in chunk_document(parsed, source_id=f"{source_id}:{document_key}")]


@dataclass
class IndexedDocument:
    document_key: str
    chunks: list[IndexChunk]
    embeddings: list[list[float]] | None = None  # computed by the caller (an ingestion job's actor pool)
    stats: dict[str, int] = field(default_factory=dict)


async def knowledge_changed(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """Tell the rest of the platform (chat's answer cache) that what this bot knows has changed."""
    await bus.emit(
        conn,
        schema="knowledge",
        event_type="knowledge.changed",
        workspace_id=workspace_id,
        payload={"bot_id": str(bot_id)},
    )


class Indexer:
    """One writer for files, collections, crawled pages and FAQs."""

    def __init__(self, *, pool: asyncpg.Pool, vectors: VectorStore, embed: Embed) -> None:
        self.pool = pool
        self.vectors = vectors
        self.embed = embed

    async def write_documents(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        source_id: uuid.UUID,
        documents: Sequence[IndexedDocument],
    ) -> dict[str, int]:
        """Make each document's chunks exactly the given ones, in both indexes; returns added/removed."""
        chunks = [chunk for document in documents for chunk in document.chunks]
        embeddings: list[list[float]] = []
        missing = [c.embed_text for document in documents if document.embeddings is None for c in document.chunks]
        computed = iter(await self.embed(missing)) if missing else iter(())
        for document in documents:
            given = document.embeddings
            embeddings.extend(given if given is not None else [next(computed) for _ in document.chunks])
        await self.vectors.upsert(
            chunk_collection(bot_id),
            ids=[chunk.id for chunk in chunks],
            embeddings=embeddings,
            documents=[chunk.text for chunk in chunks],
            metadatas=[
                {"workspace_id": str(workspace_id), "source_id": str(source_id), "document_key": document.document_key}
                for document in documents
                for _ in document.chunks
            ],
        )
        totals = {"added": 0, "removed": 0}
        removed_ids: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for document in documents:
                added, removed = await store.write_chunks(
                    conn,
                    workspace_id=workspace_id,
                    bot_id=bot_id,
                    source_id=source_id,
                    document_key=document.document_key,
                    chunks=[chunk.row() for chunk in document.chunks],
                )
                removed_ids.extend(removed)
                document.stats = {"added": added, "removed": len(removed)}
                totals["added"] += added
                totals["removed"] += len(removed)
            if totals["added"] or totals["removed"]:
                await knowledge_changed(conn, workspace_id=workspace_id, bot_id=bot_id)
        await self.vectors.delete(chunk_collection(bot_id), ids=removed_ids)
        return totals

    async def remove_documents(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        source_id: uuid.UUID,
        document_keys: Sequence[str] | None = None,
    ) -> int:
        """Drop a source's chunks (all, or those of some documents) from both indexes."""
        async with self.pool.acquire() as conn, conn.transaction():
            removed = await store.delete_chunks(
                conn, workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, document_keys=document_keys
            )
            if removed:
                await knowledge_changed(conn, workspace_id=workspace_id, bot_id=bot_id)
        if document_keys is None:
            await self.vectors.delete(chunk_collection(bot_id), where={"source_id": str(source_id)})
        else:
            await self.vectors.delete(chunk_collection(bot_id), ids=removed)
        return len(removed)

    # -- FAQs: a chunk each for retrieval, and a question vector each for direct answers -------------
    async def write_faqs(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, source_id: uuid.UUID, faqs: Sequence[asyncpg.Record]
    ) -> None:
        enabled = [faq for faq in faqs if faq["enabled"]]
        disabled = [str(faq["id"]) for faq in faqs if not faq["enabled"]]
        if enabled:
            vectors = await self.embed([faq["question"] for faq in enabled])
            await self.vectors.upsert(
                faq_collection(bot_id),
                ids=[str(faq["id"]) for faq in enabled],
                embeddings=vectors,
                documents=[faq["question"] for faq in enabled],
                metadatas=[{"workspace_id": str(workspace_id), "answer": faq["answer"]} for faq in enabled],
            )
            await self.write_documents(
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                documents=[IndexedDocument(str(faq["id"]), [faq_chunk(faq)]) for faq in enabled],
            )
        if disabled:
            await self.remove_faqs(workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, faq_ids=disabled)

    async def remove_faqs(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, source_id: uuid.UUID, faq_ids: Sequence[str]
    ) -> None:
        await self.vectors.delete(faq_collection(bot_id), ids=list(faq_ids))
        await self.remove_documents(
            workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, document_keys=list(faq_ids)
        )


def faq_chunk(faq: asyncpg.Record) -> IndexChunk:
    """An FAQ as a passage: the question is its title, question and answer its text."""
    text = f"{faq['question']}\n{faq['answer']}"
    digest = hashlib.sha256(f"faq\x00{faq['id']}\x00{text}".encode()).hexdigest()
    return IndexChunk(id=digest, ord=0, title=faq["question"], text=text, embed_text=text)

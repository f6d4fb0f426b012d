"""Writing a bot's knowledge into both indexes: vectors in Chroma, text and BM25 terms in Postgres.

Postgres is the record: search takes passages' text from it, so a vector whose chunk is gone
(an interrupted delete) is never shown. Vectors are written first and idempotently (content-hash
ids), then the chunks in one transaction, then vectors of removed chunks are deleted.

FAQs are written all or nothing, however many: every vector is computed and written first, under
ids naming a new version (never over the vectors of the FAQs as they are); then one transaction
writes the rows, their passages (chunks) and the `knowledge.changed` event; only after it commits
are the superseded vectors deleted. A failure before the commit deletes the new vectors and leaves
the FAQs as they were; matching ignores any vector whose version is not its row's.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import asyncpg

from cortex import bus
from cortex.errors import Conflict
from cortex.knowledge import store
from cortex.knowledge.chunking import Chunk, chunk_document, embedding_text
from cortex.knowledge.parsing import ParsedDocument, Section
from cortex.knowledge.vectors import VectorStore, chunk_collection, faq_collection, faq_vector_id, faq_vector_ids

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
# Called with (FAQs done, stage) while FAQs are written: "embedding" as batches finish, then "writing".
FaqProgress = Callable[[int, str], Awaitable[None]]

log = logging.getLogger("cortex.knowledge.index")

# What one call to the Embedder carries. On Serve a call's texts and its vectors each travel in one
# gRPC message, which Ray caps at 4 MiB (RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH). 256 vectors of
# 384 floats pickle to 0.84 MiB; 1 MiB of UTF-8 holds 256 long answers and keeps non-Latin text, up
# to 4 bytes a character, under the cap too. A batch takes a few seconds on 2 cores, so progress moves.
EMBED_BATCH_TEXTS = 256
EMBED_BATCH_BYTES = 1024 * 1024

T = TypeVar("T")


def embed_batches(items: Sequence[T], text: Callable[[T], str] = str) -> Iterator[Sequence[T]]:
    """Consecutive slices of `items` whose texts fit one Embedder call (count and size bounded)."""
    start, size = 0, 0
    for end, item in enumerate(items):
        length = len(text(item).encode())
        if end > start and (end - start >= EMBED_BATCH_TEXTS or size + length > EMBED_BATCH_BYTES):
            yield items[start:end]
            start, size = end, 0
        size += length
    if start < len(items):
        yield items[start:]


async def embed_batched(embed: Embed, texts: Sequence[str]) -> list[list[float]]:
    """embed(texts), as bounded calls (see EMBED_BATCH_TEXTS)."""
    vectors: list[list[float]] = []
    for batch in embed_batches(texts):
        vectors.extend(await embed(list(batch)))
    return vectors


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


@dataclass(frozen=True)
class FaqDraft:
    """An FAQ as it is to be written: `id` is kept unless the bot already asks the question."""

    id: uuid.UUID
    question: str
    answer: str
    tags: Sequence[str] = ()
    phrasings: Sequence[str] = ()
    enabled: bool = True

    def row(self, expected_version: int | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "tags": list(self.tags),
            "phrasings": list(self.phrasings),
            "enabled": self.enabled,
            "expected_version": expected_version,
        }

    def vector_texts(self, version: int) -> list[tuple[str, str, str]]:
        """(vector id, kind, text) for each text FAQ matching compares a visitor's question with."""
        kinds = [("q", self.question), *((f"p{i}", text) for i, text in enumerate(self.phrasings)), ("a", self.answer)]
        return [(faq_vector_id(self.id, version, kind), kind[0], text) for kind, text in kinds]


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
        computed = iter(await embed_batched(self.embed, missing)) if missing else iter(())
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
        async with self.pool.acquire() as conn, conn.transaction():
            added, removed_ids = await store.write_chunks(
                conn,
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                documents=[
                    (document.document_key, [chunk.row() for chunk in document.chunks]) for document in documents
                ],
            )
            if added or removed_ids:
                await knowledge_changed(conn, workspace_id=workspace_id, bot_id=bot_id)
        await self.vectors.delete(chunk_collection(bot_id), ids=removed_ids)
        return {"added": added, "removed": len(removed_ids)}

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

    # -- FAQs: vectors per question, phrasing and answer for direct answers, and a passage each ------------
    async def write_faqs(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        faqs: Sequence[FaqDraft],
        by: Literal["question", "id"] = "question",
        expected_versions: Mapping[uuid.UUID, int] | None = None,
        progress: FaqProgress | None = None,
    ) -> list[asyncpg.Record]:
        """Write FAQs all or nothing (see the module's docstring); returns their rows as written.

        by="question": new FAQs, and a question the bot already asks (case and spacing ignored)
        replaces that FAQ; Conflict if another write adds one of these questions meanwhile.
        by="id": replace FAQs that are still at `expected_versions[id]`; the others (changed or
        deleted meanwhile) are left alone and missing from the result.
        """
        if not faqs:
            return []
        async with self.pool.acquire() as conn:
            if by == "question":
                existing = await store.faq_ids_by_question(
                    conn, workspace_id=workspace_id, bot_id=bot_id, questions=[faq.question for faq in faqs]
                )
                faqs = [replace(faq, id=existing.get(faq.question, faq.id)) for faq in faqs]
            source_id = (await store.faq_source(conn, workspace_id=workspace_id, bot_id=bot_id))["id"]
            version = await store.next_faq_version(conn)
            chunks = {faq.id: faq_chunk(faq) for faq in faqs if faq.enabled}
            indexed = await store.existing_chunk_ids(
                conn, workspace_id=workspace_id, bot_id=bot_id, chunk_ids=[chunk.id for chunk in chunks.values()]
            )
        new_chunks = [chunk for chunk in chunks.values() if chunk.id not in indexed]
        try:
            await self._embed_faqs(
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                faqs=faqs,
                version=version,
                new_chunks={chunk.id for chunk in new_chunks},
                progress=progress,
            )
            if progress is not None:
                await progress(len(faqs), "writing")
            written, superseded, removed_chunks = await self._write_faq_rows(
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                faqs=faqs,
                version=version,
                chunks=chunks,
                by=by,
                expected_versions=expected_versions or {},
            )
        except BaseException:
            await self._forget(
                workspace_id=workspace_id,
                bot_id=bot_id,
                faqs=faqs,
                version=version,
                chunk_ids=[chunk.id for chunk in new_chunks],
            )
            raise
        written_ids = {row["id"] for row in written}
        # The versions this write replaced, and (by="id") the new vectors of drafts it did not write.
        unwritten = [faq for faq in faqs if faq.id not in written_ids]
        await self._delete_quietly(faq_collection(bot_id), [*superseded, *_vector_ids(unwritten, version)])
        await self._delete_quietly(chunk_collection(bot_id), removed_chunks)
        return written

    async def _embed_faqs(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        source_id: uuid.UUID,
        faqs: Sequence[FaqDraft],
        version: int,
        new_chunks: set[str],
        progress: FaqProgress | None,
    ) -> None:
        """Embed the FAQs' texts (and their passages not indexed yet) in bounded batches, writing each
        batch's vectors to Chroma at once: memory stays flat however large the import."""
        # (collection, vector id, text, metadata, how many FAQs are done once this text is)
        entries: list[tuple[str, str, str, dict[str, Any], int]] = []
        for done, faq in enumerate(faqs, start=1):
            if not faq.enabled:
                continue
            for vector_id, kind, text in faq.vector_texts(version):
                metadata = {"workspace_id": str(workspace_id), "faq_id": str(faq.id), "kind": kind, "version": version}
                entries.append((faq_collection(bot_id), vector_id, text, metadata, done))
            chunk = faq_chunk(faq)
            if chunk.id in new_chunks:
                metadata = {"workspace_id": str(workspace_id), "source_id": str(source_id), "document_key": str(faq.id)}
                entries.append((chunk_collection(bot_id), chunk.id, chunk.embed_text, metadata, done))
        embedded = 0
        for batch in embed_batches(entries, text=lambda entry: entry[2]):
            vectors = await self.embed([text for _, _, text, _, _ in batch])
            for collection in (faq_collection(bot_id), chunk_collection(bot_id)):
                picked = [
                    (entry, vector) for entry, vector in zip(batch, vectors, strict=True) if entry[0] == collection
                ]
                if picked:
                    # The FAQ vectors keep no text: matching reads it from Postgres, the record.
                    keep_text = collection == chunk_collection(bot_id)
                    await self.vectors.upsert(
                        collection,
                        ids=[entry[1] for entry, _ in picked],
                        embeddings=[vector for _, vector in picked],
                        documents=[entry[2] for entry, _ in picked] if keep_text else None,
                        metadatas=[entry[3] for entry, _ in picked],
                    )
            embedded += len(batch)
            if progress is not None:
                await progress(len(faqs) if embedded >= len(entries) else entries[embedded][4] - 1, "embedding")

    async def _write_faq_rows(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        source_id: uuid.UUID,
        faqs: Sequence[FaqDraft],
        version: int,
        chunks: Mapping[uuid.UUID, IndexChunk],
        by: Literal["question", "id"],
        expected_versions: Mapping[uuid.UUID, int],
    ) -> tuple[list[asyncpg.Record], list[str], list[str]]:
        """The one transaction: rows, passages, the event. Returns (rows, vector ids of the versions
        replaced, passage ids removed), both to delete once it has committed."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = await store.faqs_by_ids(
                conn, workspace_id=workspace_id, bot_id=bot_id, faq_ids=[faq.id for faq in faqs], for_update=True
            )
            if by == "question":
                written = await store.upsert_faqs(
                    conn, workspace_id=workspace_id, bot_id=bot_id, version=version, rows=[faq.row() for faq in faqs]
                )
                if {row["id"] for row in written} != {faq.id for faq in faqs}:
                    # Another write added one of these questions after they were looked up: the
                    # vectors were written under the wrong FAQ id.
                    raise Conflict("another change to these FAQs was saved at the same time; try again")
            else:
                rows = [faq.row(expected_version=expected_versions.get(faq.id, 0)) for faq in faqs]
                written = await store.replace_faqs(
                    conn, workspace_id=workspace_id, bot_id=bot_id, version=version, rows=rows
                )
            added, removed_chunks = await store.write_chunks(
                conn,
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                documents=[(str(row["id"]), [chunks[row["id"]].row()]) for row in written if row["enabled"]],
            )
            disabled = [str(row["id"]) for row in written if not row["enabled"]]
            if disabled:
                removed_chunks += await store.delete_chunks(
                    conn, workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, document_keys=disabled
                )
            await store.refresh_source_counts(conn, workspace_id=workspace_id, source_id=source_id)
            if written:
                await knowledge_changed(conn, workspace_id=workspace_id, bot_id=bot_id)
        written_ids = {row["id"] for row in written}
        superseded = [
            vector_id
            for old in before
            if old["id"] in written_ids
            for vector_id in faq_vector_ids(old["id"], old["version"], len(old["phrasings"]))
        ]
        return written, superseded, removed_chunks

    async def remove_faq(self, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> asyncpg.Record | None:
        """Delete an FAQ, its passage and its vectors; returns its row (None: no such FAQ)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.delete_faq(conn, workspace_id=workspace_id, faq_id=faq_id)
            if row is None:
                return None
            bot_id = row["bot_id"]
            source_id = (await store.faq_source(conn, workspace_id=workspace_id, bot_id=bot_id))["id"]
            removed = await store.delete_chunks(
                conn, workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, document_keys=[str(faq_id)]
            )
            await store.refresh_source_counts(conn, workspace_id=workspace_id, source_id=source_id)
            await knowledge_changed(conn, workspace_id=workspace_id, bot_id=bot_id)
        # Every version's vectors (a write in flight may have added one), and the id-only vector an
        # FAQ stored before versions had.
        await self._delete_quietly(faq_collection(bot_id), None, where={"faq_id": str(faq_id)})
        await self._delete_quietly(faq_collection(bot_id), [str(faq_id)])
        await self._delete_quietly(chunk_collection(bot_id), removed)
        return row

    async def _forget(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        faqs: Sequence[FaqDraft],
        version: int,
        chunk_ids: list[str],
    ) -> None:
        """After a failed write, delete the vectors it added, unless a row says they are its own (the
        commit went through after all). Best effort: vectors without their row are never matched."""
        try:
            async with self.pool.acquire() as conn:
                rows = await store.faqs_by_ids(
                    conn, workspace_id=workspace_id, bot_id=bot_id, faq_ids=[faq.id for faq in faqs]
                )
                kept = await store.existing_chunk_ids(
                    conn, workspace_id=workspace_id, bot_id=bot_id, chunk_ids=chunk_ids
                )
        except Exception:  # Postgres is what failed: leave the vectors, they are garbage at worst
            log.warning("a failed FAQ write could not tell which of its vectors to delete", exc_info=True)
            return
        current = {row["id"] for row in rows if row["version"] == version}
        await self._delete_quietly(
            faq_collection(bot_id), _vector_ids([f for f in faqs if f.id not in current], version)
        )
        await self._delete_quietly(
            chunk_collection(bot_id), [chunk_id for chunk_id in chunk_ids if chunk_id not in kept]
        )

    async def _delete_quietly(
        self, collection: str, ids: Sequence[str] | None, *, where: dict[str, Any] | None = None
    ) -> None:
        """Delete vectors nothing reads any more; a failure leaves garbage, never a wrong answer."""
        if ids is not None and not ids:
            return
        try:
            await self.vectors.delete(collection, ids=ids, where=where)
        except Exception:
            log.warning("could not delete vectors from %s", collection, exc_info=True)


def _vector_ids(faqs: Sequence[FaqDraft], version: int) -> list[str]:
    return [vector_id for faq in faqs if faq.enabled for vector_id, _, _ in faq.vector_texts(version)]


def faq_chunk(faq: FaqDraft) -> IndexChunk:
    """An FAQ as a passage: the question is its title, question and answer its text."""
    text = f"{faq.question}\n{faq.answer}"
    digest = hashlib.sha256(f"faq\x00{faq.id}\x00{text}".encode()).hexdigest()
    return IndexChunk(id=digest, ord=0, title=faq.question, text=text, embed_text=text)

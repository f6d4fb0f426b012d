"""Teach a bot a few documents in this process, without a Ray job: for tests and benchmarks.

Same chunking, same embedding model and the same two indexes as the ingestion jobs; only the
parallel part (Ray Data) is skipped, which a handful of documents does not need.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cortex.db.pool import create_pool
from cortex.knowledge import store
from cortex.knowledge.index import Embed, IndexedDocument, Indexer, text_chunks
from cortex.knowledge.vectors import VectorStore
from cortex.settings import Settings


async def teach_documents(
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    documents: Sequence[dict[str, Any]],
    embed: Embed,
    name: str = "documents",
) -> uuid.UUID:
    """Index `documents` ({id, title, text, url?}) as one ready collection source; returns its id."""
    pool = await create_pool(settings.service_database_url("knowledge"), settings, schema="knowledge")
    try:
        source_id = uuid.uuid4()
        async with pool.acquire() as conn:
            await store.add_bot(conn, workspace_id=workspace_id, bot_id=bot_id)
            await store.create_source(
                conn,
                workspace_id=workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                kind="collection",
                name=name,
                fields={"status": "running", "content_type": "jsonl"},
            )
        indexed = [
            IndexedDocument(
                str(document["id"]),
                text_chunks(
                    source_id=source_id,
                    document_key=str(document["id"]),
                    title=document.get("title", ""),
                    text=document["text"],
                    url=document.get("url"),
                ),
            )
            for document in documents
        ]
        indexer = Indexer(pool=pool, vectors=VectorStore(settings.resolved_chroma_url()), embed=embed)
        await indexer.write_documents(workspace_id=workspace_id, bot_id=bot_id, source_id=source_id, documents=indexed)
        async with pool.acquire() as conn:
            counts = await store.count_chunks(conn, workspace_id=workspace_id, source_id=source_id)
            await store.update_source(
                conn,
                workspace_id=workspace_id,
                source_id=source_id,
                fields={
                    "status": "ready",
                    "chunk_count": counts["chunks"],
                    "document_count": counts["documents"],
                    "indexed_at": datetime.now(UTC),
                },
            )
        return source_id
    finally:
        await pool.close()

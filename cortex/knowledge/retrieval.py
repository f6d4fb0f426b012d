"""Search a bot's knowledge: dense retrieval over the bot's own Chroma collection.

One collection per bot; every vector also carries its workspace id, and every query filters
on it, so a wrong bot id can never reach another tenant's passages.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import chromadb
from chromadb.errors import NotFoundError

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class Passage:
    source_id: str
    title: str
    text: str
    score: float
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collection_name(bot_id: uuid.UUID) -> str:
    return f"bot_{bot_id.hex}"


class Retriever:
    """Dense search in Chroma with our embedder (never Chroma's default embedding function)."""

    def __init__(self, *, chroma_url: str, embed: Embed) -> None:
        self.chroma_url = chroma_url
        self.embed = embed
        self._client: Any = None

    async def _chroma(self) -> Any:
        if self._client is None:
            from urllib.parse import urlsplit

            parts = urlsplit(self.chroma_url)
            self._client = await chromadb.AsyncHttpClient(host=parts.hostname, port=parts.port or 8000)
        return self._client

    async def upsert(self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, passages: list[dict[str, Any]]) -> int:
        """Index passages ({id, title, text, url?}); ids make re-runs idempotent."""
        if not passages:
            return 0
        client = await self._chroma()
        collection = await client.get_or_create_collection(
            collection_name(bot_id), embedding_function=None, metadata={"hnsw:space": "cosine"}
        )
        vectors = await self.embed([p["text"] for p in passages])
        await collection.upsert(
            ids=[str(p["id"]) for p in passages],
            embeddings=vectors,
            documents=[p["text"] for p in passages],
            metadatas=[
                {
                    "workspace_id": str(workspace_id),
                    "title": p.get("title", ""),
                    "url": p.get("url") or "",
                    "source_id": str(p.get("source_id", p["id"])),
                }
                for p in passages
            ],
        )
        return len(passages)

    async def retrieve(self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, query: str, k: int = 5) -> list[Passage]:
        client = await self._chroma()
        try:
            collection = await client.get_collection(collection_name(bot_id), embedding_function=None)
        except NotFoundError:
            return []  # nothing taught yet; an unreachable Chroma raises on, and degrades the answer
        [vector] = await self.embed([query])
        result = await collection.query(
            query_embeddings=[vector],
            n_results=k,
            where={"workspace_id": str(workspace_id)},
            include=["documents", "metadatas", "distances"],
        )
        passages = []
        for doc, meta, distance in zip(
            result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
        ):
            passages.append(
                Passage(
                    source_id=meta.get("source_id", ""),
                    title=meta.get("title", ""),
                    text=doc,
                    score=round(1.0 - float(distance), 4),
                    url=meta.get("url") or None,
                )
            )
        return passages

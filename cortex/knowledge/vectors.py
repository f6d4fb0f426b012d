"""The dense half of a bot's knowledge: Chroma collections, written and read with our own embeddings.

Per bot, `bot_<id>` holds a vector per chunk and `faq_<id>` the vectors FAQ matching compares a
question with (for direct answers): one per FAQ question, per alternative phrasing and per answer,
under ids that name the FAQ's version (`faq_vector_ids`). Every vector carries its workspace id and
every query filters on it, so even a wrong bot id cannot reach another tenant's knowledge. Chroma's
default embedding function is never used: vectors always come from the Embedder the caller passes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.errors import NotFoundError

# Chroma refuses upserts above its max batch size (~5k on a local server); 1,000 keeps each
# request a few MB of vectors.
UPSERT_BATCH = 1000


def chunk_collection(bot_id: uuid.UUID) -> str:
    return f"bot_{bot_id.hex}"


def faq_collection(bot_id: uuid.UUID) -> str:
    return f"faq_{bot_id.hex}"


def faq_vector_id(faq_id: uuid.UUID | str, version: int, kind: str) -> str:
    """`kind`: "q" (the question), "p<n>" (its n-th alternative phrasing) or "a" (the answer)."""
    return f"{faq_id}:{version}:{kind}"


def faq_vector_ids(faq_id: uuid.UUID | str, version: int, phrasings: int) -> list[str]:
    """Every vector id one version of an FAQ has (an FAQ stored before versions had its id alone)."""
    if version == 0:
        return [str(faq_id)]
    kinds = ["q", *(f"p{index}" for index in range(phrasings)), "a"]
    return [faq_vector_id(faq_id, version, kind) for kind in kinds]


class VectorStore:
    """Chroma over HTTP (one client per process, created on first use)."""

    def __init__(self, chroma_url: str) -> None:
        self.chroma_url = chroma_url
        self._client: Any = None
        # Collections already looked up, for the read path: a chat turn reads two of them, and a
        # lookup is a round trip to Chroma. A cached collection that was dropped since fails its
        # read with NotFoundError, which evicts it and looks it up again (see `_read`).
        self._readable: dict[str, Any] = {}

    async def client(self) -> Any:
        if self._client is None:
            parts = urlsplit(self.chroma_url)
            self._client = await chromadb.AsyncHttpClient(host=parts.hostname or "localhost", port=parts.port or 8000)
        return self._client

    async def _collection(self, name: str, *, create: bool) -> Any | None:
        client = await self.client()
        if create:
            return await client.get_or_create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        try:
            return await client.get_collection(name, embedding_function=None)
        except NotFoundError:
            return None

    async def upsert(
        self,
        name: str,
        *,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        documents: Sequence[str] | None,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """`documents` None: vectors whose text is read from Postgres only (Chroma then indexes no text)."""
        if not ids:
            return
        collection = await self._collection(name, create=True)
        assert collection is not None  # created if missing
        for start in range(0, len(ids), UPSERT_BATCH):
            end = start + UPSERT_BATCH
            await collection.upsert(
                ids=list(ids[start:end]),
                embeddings=[list(vector) for vector in embeddings[start:end]],
                documents=list(documents[start:end]) if documents is not None else None,
                metadatas=list(metadatas[start:end]),
            )

    async def delete(self, name: str, *, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> None:
        collection = await self._collection(name, create=False)
        if collection is None or (ids is not None and not ids):
            return
        for start in range(0, len(ids or [None]), UPSERT_BATCH):
            batch = list(ids[start : start + UPSERT_BATCH]) if ids is not None else None
            await collection.delete(ids=batch, where=where)

    async def _read(self, name: str, operation: Callable[[Any], Awaitable[Any]]) -> Any | None:
        """`operation(collection)` on a cached collection; None when the collection does not exist."""
        for attempt in range(2):
            collection = self._readable.get(name)
            if collection is None:
                collection = await self._collection(name, create=False)
                if collection is None:
                    return None
                self._readable[name] = collection
            try:
                return await operation(collection)
            except NotFoundError:
                self._readable.pop(name, None)
                if attempt:
                    return None
        return None

    async def drop(self, name: str) -> None:
        self._readable.pop(name, None)
        client = await self.client()
        try:
            await client.delete_collection(name)
        except (NotFoundError, ValueError):
            pass

    async def query(
        self, name: str, *, vector: Sequence[float], k: int, where: dict[str, Any], content: bool = True
    ) -> list[tuple[str, float, dict[str, Any], str]]:
        """(id, cosine similarity, metadata, document), best first; [] when nothing was taught yet.

        `content=False` leaves metadata and documents out ({} and ""): a ranking that reads the
        text elsewhere does not make Chroma load and send it (50 candidates are ~50 KB)."""
        include = ["metadatas", "distances", "documents"] if content else ["distances"]
        result = await self._read(
            name,
            lambda collection: collection.query(
                query_embeddings=[list(vector)], n_results=k, where=where, include=include
            ),
        )
        if result is None:
            return []
        count = len(result["ids"][0])
        metadatas = result["metadatas"][0] if content else [None] * count
        documents = result["documents"][0] if content else [None] * count
        return [
            (chunk_id, 1.0 - float(distance), metadata or {}, document or "")
            for chunk_id, distance, metadata, document in zip(
                result["ids"][0], result["distances"][0], metadatas, documents, strict=True
            )
        ]

    async def embeddings(self, name: str, *, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by id (missing ids are left out)."""
        if not ids:
            return {}
        result = await self._read(name, lambda collection: collection.get(ids=list(ids), include=["embeddings"]))
        if result is None:
            return {}
        return {
            chunk_id: [float(x) for x in vector]
            for chunk_id, vector in zip(result["ids"], result["embeddings"], strict=True)
        }

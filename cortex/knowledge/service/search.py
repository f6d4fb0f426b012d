"""Search over one bot's knowledge, as chat sees it, optionally narrowed to some sources or kinds."""

from __future__ import annotations

import time
import uuid

from cortex.http.security import Principal
from cortex.knowledge import schemas, store
from cortex.knowledge.service.base import ServiceBase


class SearchService(ServiceBase):
    """Hybrid (dense + BM25) search through the retriever chat uses."""

    async def search(self, principal: Principal, data: schemas.SearchIn) -> schemas.SearchOut:
        started = time.perf_counter()
        source_ids: list[str] | None = None
        if data.filters is not None and (data.filters.source_ids or data.filters.kinds):
            async with self.db.acquire() as conn:
                rows = await store.list_sources(
                    conn,
                    workspace_id=principal.workspace_id,
                    bot_id=data.bot_id,
                    kinds=data.filters.kinds or ("file", "collection", "crawl", "faq"),
                )
            allowed = {str(row["id"]) for row in rows}
            wanted = {str(source) for source in data.filters.source_ids} if data.filters.source_ids else allowed
            source_ids = sorted(allowed & wanted)
            if not source_ids:
                return schemas.SearchOut(passages=[], took_ms=round((time.perf_counter() - started) * 1000, 2))
        passages = await self.retriever.search(
            workspace_id=principal.workspace_id,
            bot_id=data.bot_id,
            query=data.query,
            k=data.k,
            mode=data.mode,
            source_ids=source_ids,
        )
        return schemas.SearchOut(
            passages=[
                schemas.PassageOut(
                    source_id=p.source_id,
                    source=uuid.UUID(p.source),
                    chunk_id=p.chunk_id,
                    title=p.title,
                    url=p.url,
                    snippet=p.snippet,
                    text=p.text,
                    score=p.score,
                    similarity=p.similarity,
                )
                for p in passages
            ],
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )

"""Crawl sources: starting one, its schedule, pausing, resuming and cancelling it, and its page list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cortex.errors import Conflict
from cortex.http.security import Principal
from cortex.knowledge import schemas, store
from cortex.knowledge.service.base import ACTIVE, ServiceBase, source_public


class CrawlService(ServiceBase):
    """Crawl sources: a job walks the site from its start URL, politely and through the guarded fetcher."""

    async def add_crawl(self, principal: Principal, data: schemas.CrawlIn) -> schemas.SourcePublic:
        await self.check_url(data.start_url)
        if data.sitemap_url:
            await self.check_url(data.sitemap_url)
        config = data.model_dump(mode="json", exclude={"bot_id", "schedule"})
        schedule_s = schemas.SCHEDULE_SECONDS[data.schedule] if data.schedule else None
        async with self.db.acquire() as conn:
            row = await store.create_source(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=data.bot_id,
                source_id=uuid.uuid4(),
                kind="crawl",
                name=data.start_url,
                fields={"config": config, "origin_url": data.start_url, "schedule_s": schedule_s},
            )
        return await self._submit(row, "crawl", "--source", str(row["id"]))

    async def update_crawl(
        self, principal: Principal, source_id: uuid.UUID, data: schemas.CrawlUpdate
    ) -> schemas.SourcePublic:
        schedule_s = schemas.SCHEDULE_SECONDS[data.schedule] if data.schedule else None
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, ("crawl",))
            base = row["indexed_at"] or datetime.now(UTC)
            next_run = base + timedelta(seconds=schedule_s) if schedule_s else None
            updated = await store.update_source(
                conn,
                workspace_id=principal.workspace_id,
                source_id=source_id,
                fields={"schedule_s": schedule_s, "next_run_at": next_run},
            )
        assert updated is not None
        return source_public(updated)

    async def pause_crawl(self, principal: Principal, source_id: uuid.UUID) -> schemas.SourcePublic:
        """The job sees `paused` between two pages and stops with its frontier kept."""
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, ("crawl",))
            if row["status"] not in ACTIVE:
                raise Conflict(f"only a queued or running crawl can be paused (this one is {row['status']})")
            updated = await store.update_source(
                conn, workspace_id=principal.workspace_id, source_id=source_id, fields={"status": "paused"}
            )
        assert updated is not None
        return source_public(updated)

    async def resume_crawl(self, principal: Principal, source_id: uuid.UUID) -> schemas.SourcePublic:
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, ("crawl",))
        if row["status"] != "paused":
            raise Conflict(f"only a paused crawl can be resumed (this one is {row['status']})")
        return await self._submit(row, "crawl", "--source", str(source_id), "--resume")

    async def cancel_crawl(self, principal: Principal, source_id: uuid.UUID) -> schemas.SourcePublic:
        """Stops the crawl; what was indexed so far stays searchable."""
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, ("crawl",))
            if row["status"] not in (*ACTIVE, "paused"):
                raise Conflict(f"this crawl is not running (it is {row['status']})")
            updated = await store.update_source(
                conn,
                workspace_id=principal.workspace_id,
                source_id=source_id,
                fields={"status": "cancelled", "next_run_at": None},
            )
        assert updated is not None
        return source_public(updated)

    async def list_pages(
        self, principal: Principal, source_id: uuid.UUID, *, status: str | None, limit: int, offset: int
    ) -> list[schemas.PagePublic]:
        async with self.db.acquire() as conn:
            await self._source_or_raise(conn, principal, source_id, ("crawl",))
            rows = await store.list_pages(
                conn,
                workspace_id=principal.workspace_id,
                source_id=source_id,
                status=status,
                limit=limit,
                offset=offset,
            )
        return [schemas.PagePublic(**dict(row)) for row in rows]

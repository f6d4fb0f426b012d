"""Files and document collections: upload or URL, listing, re-indexing and deleting a source."""

from __future__ import annotations

import hashlib
import uuid

from cortex.errors import Conflict, Invalid, PayloadTooLarge
from cortex.http.security import Principal
from cortex.knowledge import objects, schemas, store
from cortex.knowledge.parsing import ParseError, sniff
from cortex.knowledge.service.base import ACTIVE, ServiceBase, safe_name, source_public


class SourceService(ServiceBase):
    """Sources of every kind, and the files and collections uploaded as one."""

    async def add_file(
        self,
        principal: Principal,
        *,
        bot_id: uuid.UUID,
        filename: str,
        data: bytes,
        declared_type: str | None,
        origin_url: str | None = None,
    ) -> schemas.SourcePublic:
        """Keep the original, record the source and submit its ingestion job (202: progress on the record)."""
        if len(data) > self.settings.upload_max_bytes:
            raise PayloadTooLarge(f"files are limited to {self.settings.upload_max_bytes // (1024 * 1024)} MiB")
        try:
            kind = sniff(data, filename=filename, declared_type=declared_type)
        except ParseError as error:
            raise Invalid(error.message, details={"code": error.code}) from None
        source_id = uuid.uuid4()
        key = objects.object_key(workspace_id=principal.workspace_id, source_id=source_id)
        await objects.put(self.objects, key, data)
        fields = {
            "content_type": kind,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "object_key": key,
            "origin_url": origin_url,
        }
        async with self.db.acquire() as conn:
            row = await store.create_source(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                kind="collection" if kind == "jsonl" else "file",
                name=safe_name(filename),
                fields=fields,
            )
        return await self._submit(row, "files", "--source", str(source_id))

    async def add_file_from_url(self, principal: Principal, data: schemas.FileFromUrl) -> schemas.SourcePublic:
        """Record the source now; its job downloads the file (through the SSRF-safe fetcher)."""
        await self.check_url(data.url)
        name = data.name or data.url.rsplit("/", 1)[-1].split("?", 1)[0] or data.url
        async with self.db.acquire() as conn:
            row = await store.create_source(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=data.bot_id,
                source_id=uuid.uuid4(),
                kind="file",
                name=safe_name(name),
                fields={"origin_url": data.url},
            )
        return await self._submit(row, "files", "--source", str(row["id"]))

    async def list_sources(
        self, principal: Principal, *, bot_id: uuid.UUID | None, kinds: tuple[str, ...]
    ) -> list[schemas.SourcePublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_sources(conn, workspace_id=principal.workspace_id, bot_id=bot_id, kinds=kinds)
        return [source_public(row) for row in rows]

    async def get_source(
        self, principal: Principal, source_id: uuid.UUID, *, kinds: tuple[str, ...]
    ) -> schemas.SourceDetail:
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, kinds)
            job_rows = await store.list_jobs(conn, workspace_id=principal.workspace_id, source_id=source_id)
        return schemas.SourceDetail(
            **source_public(row).model_dump(), jobs=[schemas.JobOut(**dict(job)) for job in job_rows]
        )

    async def reindex(
        self, principal: Principal, source_id: uuid.UUID, *, kinds: tuple[str, ...]
    ) -> schemas.SourcePublic:
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, kinds)
        if row["status"] in ACTIVE:
            raise Conflict("this source is being ingested already; wait for it to finish")
        module = "crawl" if row["kind"] == "crawl" else "files"
        return await self._submit(row, module, "--source", str(source_id))

    async def delete_source(self, principal: Principal, source_id: uuid.UUID, *, kinds: tuple[str, ...]) -> None:
        """Stop its job, drop its chunks and vectors, its original, and its record."""
        async with self.db.acquire() as conn:
            row = await self._source_or_raise(conn, principal, source_id, kinds)
            await store.update_source(
                conn, workspace_id=principal.workspace_id, source_id=source_id, fields={"status": "cancelled"}
            )
        if row["job_id"] and row["status"] in ACTIVE:
            await self._stop_job(row["job_id"])
        await self.indexer.remove_documents(
            workspace_id=principal.workspace_id, bot_id=row["bot_id"], source_id=source_id
        )
        async with self.db.acquire() as conn:
            await store.delete_source(conn, workspace_id=principal.workspace_id, source_id=source_id)
        if row["object_key"]:
            await objects.delete(self.objects, row["object_key"])

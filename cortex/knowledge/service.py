"""Knowledge logic: sources (files, collections, crawls), FAQs, search, and the ingestion jobs behind them.

Heavy work (parse, chunk, embed, crawl) runs as Ray jobs (`ingest/`); this service accepts the
work, keeps its record in Postgres and shows progress. A Ray job that dies is noticed by the
job watcher and its source marked failed with the reason, so nothing stays "running" forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from cortex.errors import Conflict, Invalid, NotFound, PayloadTooLarge, Unavailable
from cortex.http.app import ServiceResources
from cortex.http.security import Principal
from cortex.knowledge import jobs, objects, schemas, store
from cortex.knowledge.faq_import import FaqFormat, parse_faq_import
from cortex.knowledge.fetch import AddressPolicy, FetchError
from cortex.knowledge.index import Embed, FaqDraft, Indexer
from cortex.knowledge.parsing import ParseError, sniff
from cortex.knowledge.retrieval import Retriever
from cortex.knowledge.schemas_common import clean_phrasings
from cortex.knowledge.vectors import VectorStore

log = logging.getLogger("cortex.knowledge")

ACTIVE = ("queued", "running")


def source_public(row: asyncpg.Record) -> schemas.SourcePublic:
    return schemas.SourcePublic(**{key: row[key] for key in schemas.SourcePublic.model_fields})


def faq_public(row: asyncpg.Record) -> schemas.FaqPublic:
    return schemas.FaqPublic(**dict(row))


class KnowledgeService:
    """What one principal's workspace has taught its bots."""

    def __init__(
        self,
        resources: ServiceResources,
        *,
        indexer: Indexer,
        retriever: Retriever,
        object_store: objects.ObjectStore,
        launcher: jobs.JobLauncher,
    ) -> None:
        assert resources.db is not None
        self.resources = resources
        self.db: asyncpg.Pool = resources.db
        self.settings = resources.settings
        self.indexer = indexer
        self.retriever = retriever
        self.objects = object_store
        self.launcher = launcher
        self.policy = AddressPolicy.from_allow_list(self.settings.fetch_allow_networks)

    # -- bots ----------------------------------------------------------------------------------
    async def require_bot(self, principal: Principal, bot_id: uuid.UUID, *, authorization: str | None) -> None:
        """404 unless the bot is the principal's workspace's.

        Bots live in core; this service keeps the ids from core's events. A bot created a moment
        ago may not have arrived yet, so a miss asks core once, with the caller's own credentials.
        """
        async with self.db.acquire() as conn:
            if await store.bot_exists(conn, workspace_id=principal.workspace_id, bot_id=bot_id):
                return
        if authorization and self.resources.http is not None:
            try:
                response = await self.resources.http.get(
                    f"{self.settings.resolved_internal_url()}/api/bots/{bot_id}",
                    headers={"authorization": authorization},
                    timeout=5.0,
                )
            except httpx.HTTPError as error:
                raise Unavailable("could not check the bot with the core service; try again") from error
            if response.status_code == 200:
                async with self.db.acquire() as conn:
                    await store.add_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
                return
        raise NotFound("bot not found")

    # -- sources ---------------------------------------------------------------------------------
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
                name=_safe_name(filename),
                fields=fields,
            )
        return await self._submit(row, "files", "--source", str(source_id))

    async def check_url(self, url: str) -> None:
        """Refuse a URL the fetcher would refuse, before anything is recorded (422, not a failed job).

        The fetcher checks again on every connection and redirect; this is for a clear answer now.
        """
        try:
            target = self.policy.check_url(url)
            if target.ip is None:
                infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
                for info in infos:
                    self.policy.check_ip(str(info[4][0]), host=target.host)
        except FetchError as error:
            raise Invalid(error.message, details={"code": error.code}) from None
        except OSError:
            raise Invalid(f"could not resolve the host of {url}") from None

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
                name=_safe_name(name),
                fields={"origin_url": data.url},
            )
        return await self._submit(row, "files", "--source", str(row["id"]))

    async def list_sources(
        self, principal: Principal, *, bot_id: uuid.UUID | None, kinds: tuple[str, ...]
    ) -> list[schemas.SourcePublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_sources(conn, workspace_id=principal.workspace_id, bot_id=bot_id, kinds=kinds)
        return [source_public(row) for row in rows]

    async def _source_or_raise(
        self, conn: asyncpg.Connection, principal: Principal, source_id: uuid.UUID, kinds: tuple[str, ...]
    ) -> asyncpg.Record:
        row = await store.get_source(conn, workspace_id=principal.workspace_id, source_id=source_id)
        if row is None or row["kind"] not in kinds:
            raise NotFound("source not found")
        return row

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

    async def _submit(self, row: asyncpg.Record, module: str, *args: str) -> schemas.SourcePublic:
        """Submit the source's Ray job; the source says `queued` until the job picks it up."""
        job_id = jobs.new_job_id(module, row["id"])
        command = jobs.entrypoint(module, *args, "--job-id", job_id)
        async with self.db.acquire() as conn, conn.transaction():
            updated = await store.update_source(
                conn,
                workspace_id=row["workspace_id"],
                source_id=row["id"],
                fields={"status": "queued", "job_id": job_id, "error": None, "error_code": None},
            )
            await store.add_job(
                conn, workspace_id=row["workspace_id"], source_id=row["id"], job_id=job_id, entrypoint=command
            )
        try:
            await self.launcher.submit(
                job_id=job_id, entrypoint=command, metadata={"source_id": str(row["id"]), "kind": module}
            )
        except Exception as error:  # the cluster refused or is unreachable: say so on the record
            log.exception("job submission failed", extra={"source_id": str(row["id"])})
            async with self.db.acquire() as conn:
                updated = await store.update_source(
                    conn,
                    workspace_id=row["workspace_id"],
                    source_id=row["id"],
                    fields={
                        "status": "failed",
                        "error_code": "job_submission",
                        "error": "Could not start the ingestion job; use re-index to try again.",
                    },
                )
                await store.finish_job(conn, job_id=job_id, status="FAILED", message=str(error)[:500])
        assert updated is not None
        return source_public(updated)

    async def _stop_job(self, job_id: str) -> None:
        try:
            await self.launcher.stop(job_id)
        except Exception:  # already gone: nothing to stop
            log.info("stop_job: %s not stoppable", job_id)

    # -- crawls ------------------------------------------------------------------------------------
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

    # -- FAQs ----------------------------------------------------------------------------------------
    async def create_faq(self, principal: Principal, data: schemas.FaqIn) -> schemas.FaqPublic:
        """Store one FAQ (an FAQ asking the same question is replaced) and index it, before answering."""
        draft = FaqDraft(
            id=uuid.uuid4(),
            question=data.question,
            answer=data.answer,
            tags=data.tags,
            phrasings=data.phrasings,
            enabled=data.enabled,
        )
        [row] = await self.indexer.write_faqs(workspace_id=principal.workspace_id, bot_id=data.bot_id, faqs=[draft])
        return faq_public(row)

    async def import_faqs(
        self, principal: Principal, *, bot_id: uuid.UUID, filename: str, data: bytes, fmt: FaqFormat | None
    ) -> schemas.SourcePublic:
        """Validate every row now (bad ones are on the record by line), keep the upload, and import
        the good rows all together in a Ray job (202: follow `status` and `progress` on the record)."""
        try:  # 20,000 rows take a moment: off the event loop, which other requests share
            parsed = await asyncio.to_thread(parse_faq_import, data, fmt=fmt)
        except ParseError as error:
            raise Invalid(error.message, details={"code": error.code}) from None
        row_errors = [{"line": e.line, "unit": e.unit, "message": e.message} for e in parsed.errors]
        if not parsed.rows:
            raise Invalid(
                "No row of this file is a valid FAQ; nothing was imported.",
                details=[
                    {
                        "field": "file",
                        "type": "row_error",
                        **error,
                        "message": f"{error['unit']} {error['line']}: {error['message']}",
                    }
                    for error in row_errors
                ],
            )
        source_id = uuid.uuid4()
        key = objects.object_key(workspace_id=principal.workspace_id, source_id=source_id)
        await objects.put(self.objects, key, data)
        async with self.db.acquire() as conn:
            row = await store.create_source(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                kind="faq_import",
                name=_safe_name(filename),
                fields={
                    "content_type": parsed.format,
                    "size_bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "object_key": key,
                    "config": {"format": parsed.format},
                    "row_errors": row_errors,
                    "progress": {"stage": "queued", "faqs_total": len(parsed.rows), "faqs_done": 0},
                },
            )
        return await self._submit(row, "faqs", "--source", str(source_id))

    async def list_faqs(
        self, principal: Principal, *, bot_id: uuid.UUID | None, search: str | None, limit: int, offset: int
    ) -> list[schemas.FaqPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_faqs(
                conn, workspace_id=principal.workspace_id, bot_id=bot_id, search=search, limit=limit, offset=offset
            )
        return [faq_public(row) for row in rows]

    async def get_faq(self, principal: Principal, faq_id: uuid.UUID) -> schemas.FaqPublic:
        async with self.db.acquire() as conn:
            row = await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id)
        if row is None:
            raise NotFound("FAQ not found")
        return faq_public(row)

    async def update_faq(self, principal: Principal, faq_id: uuid.UUID, data: schemas.FaqUpdate) -> schemas.FaqPublic:
        """Change an FAQ; it is re-indexed as a new version, so its old vectors answer until it is saved."""
        changes = {key: value for key, value in data.model_dump(exclude_unset=True).items() if value is not None}
        async with self.db.acquire() as conn:
            row = await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id)
        if row is None:
            raise NotFound("FAQ not found")
        merged = {key: changes.get(key, row[key]) for key in ("question", "answer", "tags", "phrasings", "enabled")}
        draft = FaqDraft(
            id=faq_id, **{**merged, "phrasings": clean_phrasings(merged["phrasings"], question=merged["question"])}
        )
        try:
            written = await self.indexer.write_faqs(
                workspace_id=principal.workspace_id,
                bot_id=row["bot_id"],
                faqs=[draft],
                by="id",
                expected_versions={faq_id: row["version"]},
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("this bot already has an FAQ with that question") from None
        if not written:
            async with self.db.acquire() as conn:
                if await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id) is None:
                    raise NotFound("FAQ not found")
            raise Conflict("this FAQ was changed by someone else meanwhile; reload it and try again")
        return faq_public(written[0])

    async def delete_faq(self, principal: Principal, faq_id: uuid.UUID) -> None:
        if await self.indexer.remove_faq(workspace_id=principal.workspace_id, faq_id=faq_id) is None:
            raise NotFound("FAQ not found")

    # -- search --------------------------------------------------------------------------------------
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


def _safe_name(name: str) -> str:
    """A display name: the last path component, printable, at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "upload")[:255]


# -- background loops (every replica; each step is safe to run concurrently) -------------------------

WATCH_INTERVAL_S = 5.0


async def watch_jobs(resources: ServiceResources) -> None:
    """Mark sources failed whose Ray job died without saying so, and start scheduled re-crawls."""
    assert resources.db is not None
    launcher = jobs.JobLauncher(resources.settings)
    while not resources.stopping.is_set():
        try:
            await _reconcile(resources.db, launcher)
            await _start_due_crawls(resources.db, launcher)
        except Exception:
            log.exception("job watcher round failed")
        try:
            await asyncio.wait_for(resources.stopping.wait(), timeout=WATCH_INTERVAL_S)
        except TimeoutError:
            pass


async def _reconcile(pool: asyncpg.Pool, launcher: jobs.JobLauncher) -> None:
    async with pool.acquire() as conn:
        rows = await store.sources_in_flight(conn)
    for row in rows:
        try:
            state = await launcher.state(row["job_id"])
        except Exception:
            continue  # the dashboard is unreachable or forgot the job: look again next round
        if state.status not in jobs.TERMINAL:
            continue
        async with pool.acquire() as conn, conn.transaction():
            current = await store.get_source(
                conn, workspace_id=row["workspace_id"], source_id=row["id"], for_update=True
            )
            if current is None or current["job_id"] != row["job_id"] or current["status"] not in ACTIVE:
                continue
            again = "import the file again" if row["kind"] == "faq_import" else "use re-index to try again"
            await store.update_source(
                conn,
                workspace_id=row["workspace_id"],
                source_id=row["id"],
                fields={
                    "status": "failed",
                    "error_code": "job_failed",
                    "error": f"The ingestion job stopped unexpectedly; {again}.",
                },
            )
            await store.finish_job(conn, job_id=row["job_id"], status=state.status, message=state.message)


async def _start_due_crawls(pool: asyncpg.Pool, launcher: jobs.JobLauncher) -> None:
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_due_crawls(conn, limit=10)
        for row in due:
            job_id = jobs.new_job_id("crawl", row["id"])
            command = jobs.entrypoint("crawl", "--source", str(row["id"]), "--job-id", job_id)
            await store.update_source(
                conn,
                workspace_id=row["workspace_id"],
                source_id=row["id"],
                fields={
                    "status": "queued",
                    "job_id": job_id,
                    "next_run_at": datetime.now(UTC) + timedelta(seconds=row["schedule_s"] or 86_400),
                },
            )
            await store.add_job(
                conn, workspace_id=row["workspace_id"], source_id=row["id"], job_id=job_id, entrypoint=command
            )
            await launcher.submit(job_id=job_id, entrypoint=command, metadata={"source_id": str(row["id"])})


# FAQs upgraded per round: a few batches of the Embedder, so one round stays short.
UPGRADE_FAQS_PER_ROUND = 200


def faq_upgrader(make_embed: Callable[[], Embed]) -> Callable[[ServiceResources], Awaitable[None]]:
    """A background loop that re-indexes FAQs stored before versions (version 0), whose single
    vector matching no longer reads, as versioned vectors; then it idles. `make_embed` is called
    only if there is something to upgrade."""

    async def upgrade_unversioned_faqs(resources: ServiceResources) -> None:
        assert resources.db is not None
        indexer: Indexer | None = None
        while not resources.stopping.is_set():
            try:
                async with resources.db.acquire() as conn:
                    rows = await store.unversioned_faqs(conn, limit=UPGRADE_FAQS_PER_ROUND)
                if not rows:
                    break
                if indexer is None:
                    vectors = VectorStore(resources.settings.resolved_chroma_url())
                    indexer = Indexer(pool=resources.db, vectors=vectors, embed=make_embed())
                await upgrade_faqs(indexer, rows)
            except Exception:
                log.exception("upgrading FAQs to versioned vectors failed; trying again")
                try:
                    await asyncio.wait_for(resources.stopping.wait(), timeout=WATCH_INTERVAL_S)
                except TimeoutError:
                    pass
        await resources.stopping.wait()  # a background task that ends fails the replica's health check

    return upgrade_unversioned_faqs


async def upgrade_faqs(indexer: Indexer, rows: list[asyncpg.Record]) -> None:
    """Re-write FAQs stored before versions under versioned vectors, a bot at a time; the vector
    each had under its bare id goes once its row names the new version."""
    by_bot: dict[tuple[uuid.UUID, uuid.UUID], list[asyncpg.Record]] = {}
    for row in rows:
        by_bot.setdefault((row["workspace_id"], row["bot_id"]), []).append(row)
    for (workspace_id, bot_id), faqs in by_bot.items():
        # Every replica runs this: the version check lets one write win, the others' vectors go.
        await indexer.write_faqs(
            workspace_id=workspace_id,
            bot_id=bot_id,
            faqs=[
                FaqDraft(row["id"], row["question"], row["answer"], row["tags"], row["phrasings"], row["enabled"])
                for row in faqs
            ],
            by="id",
            expected_versions={row["id"]: 0 for row in faqs},
        )

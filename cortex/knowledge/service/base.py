"""What every part of the knowledge service shares: its dependencies, the bot check, and job submission."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

import asyncpg
import redis.asyncio as aioredis

from cortex import jobs
from cortex.bus import await_arrival
from cortex.errors import Invalid, NotFound
from cortex.fetch import AddressPolicy, FetchError
from cortex.http.app import ServiceResources
from cortex.http.security import Principal
from cortex.knowledge import objects, schemas, store
from cortex.knowledge.events import GROUP
from cortex.knowledge.index import Indexer
from cortex.knowledge.retrieval import Retriever

log = logging.getLogger("cortex.knowledge")

ACTIVE = ("queued", "running")
# Bots reach knowledge through core's `bot.created` event (outbox, stream, this service's consumer: tens of
# milliseconds when idle). A request naming a bot created a moment ago can overtake it, so an unknown bot is
# looked for again, backing off from 50 ms, for up to 2 s (far above a busy stack's delivery) before the 404.
BOT_ARRIVAL_WAIT_S = 2.0


def source_public(row: asyncpg.Record) -> schemas.SourcePublic:
    return schemas.SourcePublic(**{key: row[key] for key in schemas.SourcePublic.model_fields})


def faq_public(row: asyncpg.Record) -> schemas.FaqPublic:
    return schemas.FaqPublic(**dict(row))


def safe_name(name: str) -> str:
    """A display name: the last path component, printable, at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "upload")[:255]


class ServiceBase:
    """The knowledge service's dependencies and the steps its domains share."""

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
        self.db: asyncpg.Pool = resources.db
        self.redis: aioredis.Redis | None = resources.redis
        self.settings = resources.settings
        self.indexer = indexer
        self.retriever = retriever
        self.objects = object_store
        self.launcher = launcher
        self.policy = AddressPolicy.from_allow_list(self.settings.fetch_allow_networks)

    async def require_bot(self, principal: Principal, bot_id: uuid.UUID) -> None:
        """404 unless the bot is the principal's workspace's, as core's `bot.*` events told this service;
        503 instead when those events are not all read yet (Redis down, or this service's consumer behind)."""

        async def known() -> bool | None:
            async with self.db.acquire() as conn:
                return await store.bot_exists(conn, workspace_id=principal.workspace_id, bot_id=bot_id) or None

        await await_arrival(
            known, redis=self.redis, group=GROUP, event_type="bot.created", what="bot", wait_s=BOT_ARRIVAL_WAIT_S
        )

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

    async def _source_or_raise(
        self, conn: asyncpg.Connection, principal: Principal, source_id: uuid.UUID, kinds: tuple[str, ...]
    ) -> asyncpg.Record:
        row = await store.get_source(conn, workspace_id=principal.workspace_id, source_id=source_id)
        if row is None or row["kind"] not in kinds:
            raise NotFound("source not found")
        return row

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

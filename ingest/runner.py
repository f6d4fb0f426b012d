"""The one runner every Ray job in `ingest/` runs under, and how a job reports to its owner.

    run_job(main, description, add_arguments=..., open_context=...)

parses the arguments, opens the job's context (None: nothing to do: the record is gone, cancelled,
or taken over by a newer run), reports `running`, awaits `main(context, args)`, and reports how it
ended through the context's `Reporter`, the same way for every kind of job:

- running, with progress: `reporter.progress(stage=..., **values)`, written at most once a second
  unless forced (a live bar for the owner, not a write per item);
- succeeded, with counts: `main` returns its counts (a dict) and the runner reports them; a `main`
  that returns None recorded its own ending (knowledge's ready, paused or cancelled source);
- failed, with a code and a message the owner can act on: `raise JobFailed(code, message)`; any
  other exception is logged and reported as `internal` with the reporter's `internal_error` text
  (the exception itself goes to `detail` and the job's logs, never to the owner).

Two reporters exist: knowledge's `SourceReporter` (ingest/common.py: the source's record) and
`TableReporter` here, for a service's generic `jobs` table (cortex/jobs.py), used by pattern mining.
The process exits 0 when the job succeeded or had nothing to do, 1 when it failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

log = logging.getLogger("ingest")

# Progress is written at most this often: a live bar for the owner, not a write per item.
PROGRESS_INTERVAL_S = 1.0


class JobFailed(Exception):
    """A failure the owner can act on: recorded with its code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Reporter(ABC):
    """Where a job's status and progress go. `internal_error`: what the owner reads when it crashed."""

    internal_error = "The job stopped on an internal error; start it again (details in the job's logs)."

    def __init__(self) -> None:
        self._last_progress = 0.0
        self.finished = False

    @abstractmethod
    async def start(self) -> bool:
        """Report `running`; False when there is nothing to run (gone, superseded, another run in flight)."""

    @abstractmethod
    async def write_progress(self, values: dict[str, Any]) -> None:
        """Merge these progress values into the record."""

    @abstractmethod
    async def record_success(self, counts: dict[str, Any], message: str | None) -> None: ...

    @abstractmethod
    async def record_failure(self, code: str, message: str, detail: str | None) -> None: ...

    async def progress(self, *, force: bool = False, **values: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        await self.write_progress(values)

    async def succeeded(self, counts: dict[str, Any], message: str | None = None) -> None:
        await self.record_success(counts, message)
        self.finished = True

    async def failed(self, code: str, message: str, detail: str | None = None) -> None:
        await self.record_failure(code, message, detail)
        self.finished = True


class Context(Protocol):
    """What `run_job` needs of a job's context: its reporter, and resources to release at the end."""

    @property
    def reporter(self) -> Reporter: ...

    async def close(self) -> None: ...


def run_job(
    main: Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any] | None]],
    description: str,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    open_context: Callable[[argparse.Namespace, str | None], Awaitable[Context | None]],
    argv: list[str] | None = None,
) -> None:
    """Parse arguments, run `main(context, args)` and exit with the job's status (see the module doc)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    parser.add_argument("--job-id", default=None, help="the Ray submission id recorded for this run")
    if hasattr(main, "add_arguments"):
        main.add_arguments(parser)
    args = parser.parse_args(argv)
    job_id = args.job_id or os.environ.get("RAY_JOB_SUBMISSION_ID")
    sys.exit(asyncio.run(run(main, args, job_id, open_context=open_context)))


async def run(
    main: Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any] | None]],
    args: argparse.Namespace,
    job_id: str | None,
    *,
    open_context: Callable[[argparse.Namespace, str | None], Awaitable[Context | None]],
) -> int:
    """Run one job to its end and report it; the process's exit status."""
    context = await open_context(args, job_id)
    if context is None:
        log.info("nothing to do: the job's record is gone, cancelled or taken over by a newer run")
        return 0
    reporter = context.reporter
    try:
        if not await reporter.start():
            log.info("nothing to do: the job's record is gone or another run of it is in flight")
            return 0
        counts = await main(context, args)
        if counts is not None and not reporter.finished:
            await reporter.succeeded(counts)
        return 0
    except JobFailed as failure:
        log.warning("job failed: %s: %s", failure.code, failure.message)
        await reporter.failed(failure.code, failure.message, failure.message)
        return 1
    except Exception as error:
        log.exception("job crashed")
        await reporter.failed("internal", reporter.internal_error, repr(error)[:500])
        return 1
    finally:
        await context.close()


# -- a service's generic `jobs` table ------------------------------------------------------------------


class TableReporter(Reporter):
    """Reports on a run's row in the `jobs` table of the pool's schema (cortex/jobs.py).

    The service inserts the row `queued` before it submits; a run submitted by hand (`ray job
    submit`, no row) records itself, unless a run of its kind is already in flight for the workspace.
    """

    def __init__(self, pool: asyncpg.Pool, *, job_id: str | None, workspace_id: uuid.UUID, kind: str) -> None:
        super().__init__()
        self.pool = pool
        self.workspace_id = workspace_id
        self.kind = kind
        self.job_id = job_id or f"{kind}-{workspace_id.hex[:12]}-manual-{uuid.uuid4().hex[:8]}"

    async def start(self) -> bool:
        async with self.pool.acquire() as conn:
            status = await conn.fetchval(
                "SELECT status FROM jobs WHERE id = $1 AND workspace_id = $2 AND kind = $3",
                self.job_id,
                self.workspace_id,
                self.kind,
            )
            if status is None:
                inserted = await conn.fetchval(
                    """
                    INSERT INTO jobs (id, workspace_id, kind, entrypoint, trigger, requested_by, status, started_at)
                    VALUES ($1, $2, $3, $4, 'owner', 'ray job submit', 'running', now())
                    ON CONFLICT DO NOTHING RETURNING id
                    """,
                    self.job_id,
                    self.workspace_id,
                    self.kind,
                    " ".join(sys.argv)[:2000],
                )
                return inserted is not None
            if status != "queued":  # finished, or given up by the service's reconciler meanwhile
                return False
            started = await conn.fetchval(
                "UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1 AND status = 'queued' "
                "RETURNING id",
                self.job_id,
            )
            return started is not None

    async def write_progress(self, values: dict[str, Any]) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE jobs SET progress = progress || $2::jsonb WHERE id = $1 AND status = 'running'",
                self.job_id,
                values,
            )

    async def record_success(self, counts: dict[str, Any], message: str | None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE jobs SET status = 'succeeded', counts = $2::jsonb, finished_at = now() "
                "WHERE id = $1 AND status = 'running'",
                self.job_id,
                counts,
            )

    async def record_failure(self, code: str, message: str, detail: str | None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE jobs SET status = 'failed', error_code = $2, error = $3, detail = $4, finished_at = now() "
                "WHERE id = $1 AND status IN ('queued', 'running')",
                self.job_id,
                code,
                message,
                detail,
            )


@dataclass
class WorkspaceJob:
    """The context of a job that works on one workspace of one schema, as that schema's jobs role."""

    settings: Any
    pool: asyncpg.Pool
    workspace_id: uuid.UUID
    reporter: Reporter

    async def close(self) -> None:
        await self.pool.close()


def workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, type=uuid.UUID, help="the workspace's id")


def open_workspace_job(schema: str, kind: str) -> Callable[[argparse.Namespace, str | None], Awaitable[WorkspaceJob]]:
    """`open_context` for a job of `kind` on one workspace, reporting on `schema`'s jobs table."""

    async def open_context(args: argparse.Namespace, job_id: str | None) -> WorkspaceJob:
        from cortex.db.pool import create_pool
        from cortex.settings import get_settings

        settings = get_settings()
        pool = await create_pool(settings.resolved_jobs_database_url(schema), settings, schema=schema)
        reporter = TableReporter(pool, job_id=job_id, workspace_id=args.workspace, kind=kind)
        return WorkspaceJob(settings=settings, pool=pool, workspace_id=args.workspace, reporter=reporter)

    return open_context

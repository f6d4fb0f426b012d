"""Scheduled and on-demand Ray jobs of a service, per workspace: one way for every service to run them.

A service that runs a job on a schedule declares it once (`ScheduledJob`) and lists it in its
background loop (`run_schedules`); its schema has the `jobs` table of cortex/jobs.py and a
`schedules` table of this shape (helper/005_jobs_schedules.sql is the model):

    schedules (workspace_id uuid, kind text, due_at timestamptz, last_job_id text,
               last_run_at timestamptz, PRIMARY KEY (workspace_id, kind))

Each round of the loop, on every replica of the service:
1. every `DISCOVER_EVERY_S`, a schedule row is created for each workspace the job's `discover`
   query names that has none yet (lazily: a workspace gets its row once it has data to work on),
   first due one interval later;
2. due rows are claimed `FOR UPDATE SKIP LOCKED` in one transaction, which records each run
   `queued` in `jobs` and moves the row's due time one interval on, so two replicas never start
   the same run; the runs are then submitted to Ray through the shared launcher (a refused
   submission is recorded on the run and the row is retried sooner);
3. runs whose Ray job died without reporting are marked failed (`cortex.jobs.reconcile`).

`start_run` is the on-demand path (an owner's request): the same record and submission, refused
while a run of the kind is in flight for the workspace.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from cortex import jobs
from cortex.background import repeat
from cortex.http.app import ServiceResources
from cortex.settings import Settings

log = logging.getLogger("cortex.schedules")

# 5 s: a due run starts within seconds and a dead one is noticed as fast, at one indexed query per
# replica per round (and a look at Ray's job API per run in flight).
POLL_S = 5.0
# Looking for workspaces without a schedule scans the job's discover query: every 10 minutes is
# plenty for rows whose first run is an interval away anyway.
DISCOVER_EVERY_S = 600.0
# Runs claimed per round and job: a burst of due rows (every workspace created the same day) is
# spread over rounds instead of flooding the cluster.
CLAIM_PER_ROUND = 10
# A submission the cluster refused is tried again this much later, not a whole interval later.
RETRY_SUBMISSION_S = 300.0


@dataclass(frozen=True)
class ScheduledJob:
    """A Ray job a service runs per workspace: on a schedule and on request.

    `module`: the entrypoint `python -m ingest.<module> --workspace <id>`; `interval_s`: read from
    the settings each time (an operator's change applies at the next reschedule); `discover`: SQL
    selecting the `workspace_id`s that should have a schedule row (None: rows are made elsewhere);
    `failed_message` / `again`: what the owner reads when the job died silently / was refused."""

    kind: str
    module: str
    interval_s: Callable[[Settings], float]
    discover: str | None
    failed_message: str
    again: str

    def command(self, workspace_id: uuid.UUID, job_id: str) -> str:
        return jobs.entrypoint(self.module, "--workspace", str(workspace_id), "--job-id", job_id)


async def start_run(
    pool: asyncpg.Pool,
    launcher: jobs.JobLauncher,
    job: ScheduledJob,
    *,
    workspace_id: uuid.UUID,
    requested_by: str | None,
) -> asyncpg.Record:
    """Record and submit a run now (an owner's request); `jobs.RunInProgress` when one is in flight."""
    job_id = jobs.new_job_id(job.kind, workspace_id)
    command = job.command(workspace_id, job_id)
    async with pool.acquire() as conn:
        row = await jobs.record_job(
            conn,
            job_id=job_id,
            workspace_id=workspace_id,
            kind=job.kind,
            entrypoint=command,
            trigger="owner",
            requested_by=requested_by,
        )
    return await jobs.submit_recorded(pool, launcher, row, entrypoint=command, again=job.again)


async def ensure_schedules(pool: asyncpg.Pool, job: ScheduledJob, settings: Settings) -> int:
    """Create the missing schedule rows of `job` (first due one interval from now, spread by up to a
    tenth of it so workspaces that appeared together do not all run together); how many."""
    if job.discover is None:
        return 0
    async with pool.acquire() as conn:
        done = await conn.execute(
            f"""
            INSERT INTO schedules (workspace_id, kind, due_at)
            SELECT found.workspace_id, $1, now() + make_interval(secs => $2 * (1 + random() / 10))
              FROM ({job.discover}) AS found
            ON CONFLICT (workspace_id, kind) DO NOTHING
            """,
            job.kind,
            job.interval_s(settings),
        )
    return int(done.rsplit(" ", 1)[-1])


async def claim_due(
    pool: asyncpg.Pool,
    launcher: jobs.JobLauncher,
    job: ScheduledJob,
    settings: Settings,
    *,
    limit: int = CLAIM_PER_ROUND,
) -> list[asyncpg.Record]:
    """Claim up to `limit` due rows of `job`, record their runs, move them on, and submit the runs; the
    runs started (a workspace whose previous run is still in flight is skipped until its next time)."""
    interval = job.interval_s(settings)
    claimed: list[tuple[asyncpg.Record, str]] = []
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(
            """
            SELECT workspace_id FROM schedules WHERE kind = $1 AND due_at <= now()
             ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            job.kind,
            limit,
        )
        for row in due:
            workspace_id = row["workspace_id"]
            job_id = jobs.new_job_id(job.kind, workspace_id)
            command = job.command(workspace_id, job_id)
            try:
                run = await jobs.record_job(
                    conn,
                    job_id=job_id,
                    workspace_id=workspace_id,
                    kind=job.kind,
                    entrypoint=command,
                    trigger="schedule",
                )
                claimed.append((run, command))
            except jobs.RunInProgress as in_flight:
                log.info("%s for %s skipped: run %s is in flight", job.kind, workspace_id, in_flight.job_id)
                job_id = ""
            await conn.execute(
                """
                UPDATE schedules SET due_at = now() + make_interval(secs => $3),
                       last_job_id = COALESCE(NULLIF($4, ''), last_job_id),
                       last_run_at = CASE WHEN $4 = '' THEN last_run_at ELSE now() END
                 WHERE workspace_id = $1 AND kind = $2
                """,
                workspace_id,
                job.kind,
                interval,
                job_id,
            )
    started: list[asyncpg.Record] = []
    for run, command in claimed:
        submitted = await jobs.submit_recorded(pool, launcher, run, entrypoint=command, again=job.again)
        if submitted["status"] == "failed":
            async with pool.acquire() as conn:
                await conn.execute(
                    "UPDATE schedules SET due_at = now() + make_interval(secs => $3) "
                    "WHERE workspace_id = $1 AND kind = $2",
                    run["workspace_id"],
                    job.kind,
                    RETRY_SUBMISSION_S,
                )
            continue
        started.append(submitted)
    return started


async def next_due(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, kind: str) -> asyncpg.Record | None:
    """The workspace's schedule row of `kind` (None: none yet)."""
    return await conn.fetchrow(
        "SELECT due_at, last_job_id, last_run_at FROM schedules WHERE workspace_id = $1 AND kind = $2",
        workspace_id,
        kind,
    )


async def run_schedules(
    resources: ServiceResources,
    scheduled: Sequence[ScheduledJob],
    *,
    launcher: jobs.JobLauncher | None = None,
    poll_s: float = POLL_S,
) -> None:
    """The service's loop: discover, claim and submit, reconcile, every `poll_s` until shutdown."""
    assert resources.db is not None
    pool, settings = resources.db, resources.settings
    launcher = launcher or jobs.JobLauncher(settings)
    messages = {job.kind: job.failed_message for job in scheduled}
    discovered_at = float("-inf")

    async def round_() -> None:
        nonlocal discovered_at
        if time.monotonic() - discovered_at >= DISCOVER_EVERY_S:
            for job in scheduled:
                await ensure_schedules(pool, job, settings)
            discovered_at = time.monotonic()
        for job in scheduled:
            await claim_due(pool, launcher, job, settings)
        await jobs.reconcile(pool, launcher, messages=messages)

    await repeat(round_, every_s=poll_s, stop=resources.stopping, what="schedule round")

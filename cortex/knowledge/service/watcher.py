"""The job watcher: marks sources failed whose Ray job died silently, and starts scheduled re-crawls.

It runs on every replica; each step locks the rows it changes, so replicas never act twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from cortex import jobs
from cortex.background import repeat
from cortex.http.app import ServiceResources
from cortex.knowledge import store
from cortex.knowledge.service.base import ACTIVE

# 5 s: a dead job or a due crawl is noticed within seconds, at one cheap query per replica per round.
WATCH_INTERVAL_S = 5.0
# Re-crawls started per round: a burst of due schedules is spread over rounds instead of flooding Ray.
DUE_CRAWLS_PER_ROUND = 10
# The next run of a due crawl without a schedule of its own (clearing one clears next_run_at too): a day.
DEFAULT_SCHEDULE_S = 86_400


async def watch_jobs(resources: ServiceResources) -> None:
    """Mark sources failed whose Ray job died without saying so, and start scheduled re-crawls."""
    assert resources.db is not None
    launcher = jobs.JobLauncher(resources.settings)
    pool = resources.db

    async def round_() -> None:
        await _reconcile(pool, launcher)
        await _start_due_crawls(pool, launcher)

    await repeat(round_, every_s=WATCH_INTERVAL_S, stop=resources.stopping, what="job watcher round")


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
        due = await store.claim_due_crawls(conn, limit=DUE_CRAWLS_PER_ROUND)
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
                    "next_run_at": datetime.now(UTC) + timedelta(seconds=row["schedule_s"] or DEFAULT_SCHEDULE_S),
                },
            )
            await store.add_job(
                conn, workspace_id=row["workspace_id"], source_id=row["id"], job_id=job_id, entrypoint=command
            )
            await launcher.submit(job_id=job_id, entrypoint=command, metadata={"source_id": str(row["id"])})

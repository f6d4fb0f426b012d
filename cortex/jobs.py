"""Submitting batch work to Ray as jobs, reading their state back, and a service's record of its runs.

Every Ray job is an entrypoint in `ingest/` run by `ingest/runner.py`. The services submit the same
entrypoints an ML engineer can run with `ray job submit -- "$PWD/.venv/bin/python" -m ingest.files
--source <id>`. Ray's job client is synchronous (requests), so every call runs in a thread.

Knowledge records its runs on its sources (`knowledge.sources`, `knowledge.ingest_jobs`); any other
service records them in a `jobs` table of its own schema with the shape below (created by that
schema's migration, e.g. helper/005_jobs.sql), through the functions here: the service inserts the
row `queued` before it submits, the job's runner reports `running` with progress, then `succeeded`
with counts or `failed` with a code and a message the owner can act on, and `reconcile` marks
failed the runs whose Ray job died without saying so.

    jobs (id text PK (the Ray submission id), workspace_id uuid, kind text, entrypoint text,
          trigger text ('schedule' | 'owner'), requested_by text, status text ('queued' | 'running' |
          'succeeded' | 'failed'), progress jsonb, counts jsonb, error_code text, error text,
          detail text, submitted_at, started_at, finished_at timestamptz)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg

from cortex.settings import Settings

log = logging.getLogger("cortex.jobs")

# The settings a job reads, passed on from the service that submitted it so both agree. Only
# these: a job's runtime_env is shown on Ray's dashboard to anyone who can reach it, so nothing
# holding a secret goes there (the admin DSN, the root secret, OIDC client secrets, the LLM key,
# the Redis URL with its password). A job finds its database as the service does, from CORTEX_HOME
# on the embedded stack or from the pod's environment in Kubernetes, and logs in as the jobs'
# role of the schema it works in (`Settings.resolved_jobs_database_url(schema)`), which may write only
# what that schema's jobs write.
JOB_SETTINGS = (
    "env",
    "home",
    "log_level",
    "chroma_url",
    "object_store_url",
    "s3_endpoint_url",
    "upload_max_bytes",
    "fetch_allow_networks",
    "fetch_max_bytes",
    "fetch_timeout_s",
    "fetch_max_redirects",
    "ingest_embed_batch",
    "embedder_backend",
    "embedder_threads",
    "model_cache_dir",
    "db_pool_min",
    "db_pool_max",
    "db_command_timeout_s",
)

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


@dataclass(frozen=True)
class JobState:
    status: str  # PENDING / RUNNING / SUCCEEDED / FAILED / STOPPED (Ray's JobStatus)
    message: str | None


def job_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """A job's runtime_env variables: the JOB_SETTINGS this service has set, and nothing else of ours."""
    env = {name: environ[name] for name in (f"CORTEX_{setting.upper()}" for setting in JOB_SETTINGS) if name in environ}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    return env


def entrypoint(module: str, *args: str) -> str:
    """`python -m ingest.<module> ...` with the interpreter this service runs on (the cluster image's)."""
    return " ".join(shlex.quote(part) for part in [sys.executable, "-m", f"ingest.{module}", *args])


def new_job_id(kind: str, key: uuid.UUID) -> str:
    """A Ray submission id naming the job's kind and what it works on (a source, a workspace)."""
    return f"{kind}-{key.hex[:12]}-{uuid.uuid4().hex[:8]}"


def ray_auth_headers(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The dashboard's token as a header, read from the environment each time a client is made
    (`RAY_AUTH_TOKEN`, or the file `RAY_AUTH_TOKEN_PATH` names, when `RAY_AUTH_MODE` is token).
    Ray's own clients read it once per process and keep what they found, so a process whose Ray
    was first used before those were set would otherwise submit with no token."""
    if environ.get("RAY_AUTH_MODE") != "token":
        return {}
    token = environ.get("RAY_AUTH_TOKEN")
    if not token and (path := environ.get("RAY_AUTH_TOKEN_PATH")):
        try:
            token = Path(path).read_text().strip()
        except OSError:
            token = None
    return {"Authorization": f"Bearer {token}"} if token else {}


class JobLauncher:
    """Ray's JobSubmissionClient for one cluster, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.address = settings.resolved_ray_dashboard_url()
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address, headers=ray_auth_headers())
        return self._client

    async def submit(self, *, job_id: str, entrypoint: str, metadata: dict[str, str]) -> str:
        def submit() -> str:
            return self._get_client().submit_job(
                entrypoint=entrypoint,
                submission_id=job_id,
                runtime_env={"env_vars": job_environment()},
                metadata=metadata,
                # The job's driver only coordinates; its Ray Data tasks and actors ask for CPU.
                entrypoint_num_cpus=0,
            )

        return await asyncio.to_thread(submit)

    async def state(self, job_id: str) -> JobState:
        def read() -> JobState:
            info = self._get_client().get_job_info(job_id)
            return JobState(
                status=str(info.status.value if hasattr(info.status, "value") else info.status), message=info.message
            )

        return await asyncio.to_thread(read)

    async def stop(self, job_id: str) -> None:
        await asyncio.to_thread(lambda: self._get_client().stop_job(job_id))


# -- a service's record of its runs (a `jobs` table in its own schema) ----------------------------------

Trigger = Literal["schedule", "owner"]
ACTIVE = ("queued", "running")
JOB_COLUMNS = (
    "id, workspace_id, kind, trigger, requested_by, status, progress, counts, error_code, error, "
    "submitted_at, started_at, finished_at"
)
# A run still `queued` this long after submission that Ray does not know is marked failed: its
# service stopped between recording and submitting it, or the cluster lost it.
NEVER_STARTED_S = 600.0


class RunInProgress(Exception):
    """The workspace already has a run of this kind queued or running."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


async def record_job(
    conn: asyncpg.Connection,
    *,
    job_id: str,
    workspace_id: uuid.UUID,
    kind: str,
    entrypoint: str,
    trigger: Trigger,
    requested_by: str | None = None,
) -> asyncpg.Record:
    """Insert the run `queued`, before it is submitted; RunInProgress when one of its kind is in flight."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO jobs (id, workspace_id, kind, entrypoint, trigger, requested_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (workspace_id, kind) WHERE status IN ('queued', 'running') DO NOTHING
        RETURNING {JOB_COLUMNS}
        """,
        job_id,
        workspace_id,
        kind,
        entrypoint,
        trigger,
        requested_by,
    )
    if row is None:
        running = await conn.fetchval(
            "SELECT id FROM jobs WHERE workspace_id = $1 AND kind = $2 AND status IN ('queued', 'running')",
            workspace_id,
            kind,
        )
        raise RunInProgress(running or "")
    return row


async def get_job(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND workspace_id = $2", job_id, workspace_id
    )


async def list_jobs(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, kind: str, limit: int = 50, offset: int = 0
) -> list[asyncpg.Record]:
    """The workspace's runs of a kind, newest first."""
    return await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE workspace_id = $1 AND kind = $2 "
        "ORDER BY submitted_at DESC, id LIMIT $3 OFFSET $4",
        workspace_id,
        kind,
        limit,
        offset,
    )


async def fail_job(conn: asyncpg.Connection, *, job_id: str, code: str, error: str, detail: str | None) -> bool:
    """Mark an unfinished run failed (False: it had finished already)."""
    done = await conn.execute(
        """
        UPDATE jobs SET status = 'failed', error_code = $2, error = $3, detail = $4, finished_at = now()
         WHERE id = $1 AND status IN ('queued', 'running')
        """,
        job_id,
        code,
        error,
        detail,
    )
    return done != "UPDATE 0"


async def submit_recorded(
    pool: asyncpg.Pool, launcher: JobLauncher, row: asyncpg.Record, *, entrypoint: str, again: str
) -> asyncpg.Record:
    """Submit a recorded run to Ray; a refused submission is recorded on the run (what to do: `again`)."""
    try:
        await launcher.submit(
            job_id=row["id"],
            entrypoint=entrypoint,
            metadata={"kind": row["kind"], "workspace_id": str(row["workspace_id"])},
        )
        return row
    except Exception as error:  # the cluster refused or is unreachable: say so on the record
        log.exception("job submission failed", extra={"job_id": row["id"]})
        async with pool.acquire() as conn:
            await fail_job(
                conn,
                job_id=row["id"],
                code="job_submission",
                error=f"Could not start the job; {again}.",
                detail=str(error)[:500],
            )
            return await get_job(conn, workspace_id=row["workspace_id"], job_id=row["id"]) or row


async def reconcile(pool: asyncpg.Pool, launcher: JobLauncher, *, messages: Mapping[str, str]) -> int:
    """Mark failed the runs whose Ray job ended without reporting (killed, crashed before its runner
    started, lost with its node), or that Ray never received; `messages`: per kind, what the owner reads.
    Returns how many were marked."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, kind, submitted_at, now() - submitted_at AS age FROM jobs WHERE status IN ('queued', 'running')"
        )
    marked = 0
    for row in rows:
        try:
            state = await launcher.state(row["id"])
        except Exception:
            # Unknown to Ray (or the dashboard is unreachable): only a run that waited too long is given up.
            if row["age"].total_seconds() < NEVER_STARTED_S:
                continue
            state = JobState("FAILED", "the cluster has no such job")
        if state.status not in TERMINAL:
            continue
        message = messages.get(row["kind"], "The job stopped unexpectedly; start it again.")
        async with pool.acquire() as conn:
            if await fail_job(conn, job_id=row["id"], code="job_failed", error=message, detail=state.message):
                marked += 1
    return marked

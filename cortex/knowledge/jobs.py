"""Submitting ingestion work to Ray as jobs, and reading their state back.

The API and `cortex ingest` / `cortex crawl` submit the same entrypoints an ML engineer can run
with `ray job submit -- "$PWD/.venv/bin/python" -m ingest.files --source <id>`. Ray's job client is synchronous
(requests), so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortex.settings import Settings

# The settings a job reads, passed on from the service that submitted it so both agree. Only
# these: a job's runtime_env is shown on Ray's dashboard to anyone who can reach it, so nothing
# holding a secret goes there (the admin DSN, the root secret, OIDC client secrets, the LLM key,
# the Redis URL with its password). A job finds its database as the service does, from CORTEX_HOME
# on the embedded stack or from the pod's environment in Kubernetes, and logs in as the jobs'
# role (`Settings.resolved_jobs_database_url`), which may write only what ingestion writes.
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


def new_job_id(kind: str, source_id: uuid.UUID) -> str:
    return f"{kind}-{source_id.hex[:12]}-{uuid.uuid4().hex[:8]}"


class JobLauncher:
    """Ray's JobSubmissionClient for one cluster, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.address = settings.resolved_ray_dashboard_url()
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
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

"""Pattern mining runs: on the helper's schedule and on an owner's request (`/api/helper/mining/runs`).

The job is `ingest/mine_patterns.py` (logic: cortex/helper/mining.py). Mining is per workspace: a
workspace gets its schedule row lazily, once the helper has a closed conversation of it, and a run
every CORTEX_HELPER_MINING_INTERVAL_S (a day) after that; an owner or admin can start one now.
Each run is a row of `helper.jobs` with its status, progress and counts, reported by the job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from cortex import jobs, schedules
from cortex.errors import Conflict, NotFound
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require

KIND = "mining"

MINING = schedules.ScheduledJob(
    kind=KIND,
    module="mine_patterns",
    interval_s=lambda settings: settings.helper_mining_interval_s,
    discover="SELECT DISTINCT workspace_id FROM conversations WHERE closed_at IS NOT NULL",
    failed_message="The pattern-mining job stopped unexpectedly; start a new run.",
    again="start a new run",
)

router = APIRouter()
Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class MiningRun(BaseModel):
    """One run of the pattern-mining job."""

    id: str = Field(description="the run's id (its Ray submission id)")
    status: str = Field(description="queued, running, succeeded or failed")
    trigger: str = Field(description="schedule, or owner (started on request)")
    progress: dict[str, Any] = Field(
        description="stage (reading, analysing, proposing, retiring, done), conversations_total, conversations_done"
    )
    counts: dict[str, Any] = Field(
        description="when succeeded: conversations, successful, samples, situations, candidates, retired, and "
        "the evidence of each proposed candidate and the reason of each retirement"
    )
    error_code: str | None = Field(None, description="when failed: job_submission, job_failed, internal, …")
    error: str | None = Field(None, description="when failed: what happened and what to do")
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class MiningRuns(BaseModel):
    runs: list[MiningRun]
    next_run_at: datetime | None = Field(
        None, description="when the next scheduled run is due (none until the workspace has closed conversations)"
    )


def _public(row: Any) -> MiningRun:
    return MiningRun(**{name: row[name] for name in MiningRun.model_fields})


def _pool(request: Request) -> Any:
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    return resources.db


def _launcher(request: Request) -> jobs.JobLauncher:
    state = request.app.state
    if getattr(state, "job_launcher", None) is None:
        state.job_launcher = jobs.JobLauncher(state.resources.settings)
    return state.job_launcher


@router.post("/mining/runs", status_code=202, response_model=MiningRun, tags=["mining"])
async def start_mining_run(principal: Admin, request: Request) -> MiningRun:
    """Start a pattern-mining run for the workspace now: it proposes candidate patterns from successful
    conversations and retires patterns that stopped working. 409 while a run is queued or running."""
    try:
        row = await schedules.start_run(
            _pool(request),
            _launcher(request),
            MINING,
            workspace_id=principal.workspace_id,
            requested_by=principal.subject,
        )
    except jobs.RunInProgress as in_flight:
        raise Conflict("a mining run is already queued or running", details={"run_id": in_flight.job_id}) from None
    return _public(row)


@router.get("/mining/runs", response_model=MiningRuns, tags=["mining"])
async def list_mining_runs(
    principal: Viewer,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MiningRuns:
    """The workspace's mining runs, newest first, with their status, progress and counts, and when the
    next scheduled run is due."""
    async with _pool(request).acquire() as conn:
        rows = await jobs.list_jobs(conn, workspace_id=principal.workspace_id, kind=KIND, limit=limit, offset=offset)
        schedule = await schedules.next_due(conn, workspace_id=principal.workspace_id, kind=KIND)
    return MiningRuns(runs=[_public(row) for row in rows], next_run_at=schedule["due_at"] if schedule else None)


@router.get("/mining/runs/{run_id}", response_model=MiningRun, tags=["mining"])
async def get_mining_run(
    run_id: Annotated[str, Path(max_length=200)], principal: Viewer, request: Request
) -> MiningRun:
    """One mining run: poll it until it has succeeded or failed."""
    async with _pool(request).acquire() as conn:
        row = await jobs.get_job(conn, workspace_id=principal.workspace_id, job_id=run_id)
    if row is None or row["kind"] != KIND:
        raise NotFound("mining run not found")
    return _public(row)


async def run_mining_schedule(resources: ServiceResources) -> None:
    """The helper's background loop: scheduled mining runs, claimed once across replicas."""
    await schedules.run_schedules(resources, [MINING])

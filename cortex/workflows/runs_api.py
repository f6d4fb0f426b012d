"""`/workflows`: the workflow definitions, and their runs: list, start, inspect (state and the
checkpointed history), resume with the next message, cancel.

The routes run the scheduling graph in this replica (a `Scheduler` over the service's pool, its
checkpointer opened on first use), exactly as the chat's turns do on the Scheduler deployment: a
run started here and one started from the chat are the same thing, and either side may continue
it.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from cortex.contracts.booking import BookingTurn
from cortex.errors import Conflict, NotFound, Unavailable
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require
from cortex.workflows.runs import RUN_COLUMNS, WORKFLOW, RunStatus, Scheduler, TurnResult, visitor_zone

router = APIRouter()

Viewer = Annotated[Principal, Depends(require("viewer"))]
Agent = Annotated[Principal, Depends(require("agent"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]

#: The steps of the scheduling graph, as its definition shows them.
SCHEDULING_STEPS = ["understand", "ask", "offer", "manage", "book", "cancel_appointment", "wait"]
#: What the state and history show of a run (the visitor's name and e-mail stay in the appointment).
SHOWN = ("intent", "language", "time_zone", "awaiting", "status", "service_id", "when", "chosen", "appointment_id")


class WorkflowDefinition(BaseModel):
    name: str
    description: str
    steps: list[str]
    statuses: list[str]


class RunPublic(BaseModel):
    id: uuid.UUID
    workflow: str
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    visitor_id: str | None
    status: RunStatus
    step: str
    appointment_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> RunPublic:
        return cls(**{name: row[name] for name in cls.model_fields})


class TurnPublic(BaseModel):
    """What the run says back: its reply, its buttons, where it stands and whether it waits."""

    reply: str
    actions: list[dict[str, Any]]
    status: str | None
    waiting: bool
    appointment_id: uuid.UUID | None

    @classmethod
    def of(cls, turn: BookingTurn) -> TurnPublic:
        return cls(
            reply=turn.reply,
            actions=turn.actions,
            status=turn.status,
            waiting=turn.active,
            appointment_id=turn.appointment_id,
        )


class RunTurn(BaseModel):
    run: RunPublic
    turn: TurnPublic


class Checkpoint(BaseModel):
    checkpoint_id: str | None
    created_at: str | None
    step: int | None
    source: str | None
    next: list[str]
    values: dict[str, Any]


class RunDetail(BaseModel):
    run: RunPublic
    #: The run's current values (without the visitor's name and e-mail), and what it waits for.
    state: dict[str, Any]
    waiting_for: dict[str, Any] | None
    #: Its checkpoints, newest first.
    history: list[Checkpoint]


class RunStart(BaseModel):
    workflow: Literal["scheduling"] = "scheduling"
    bot_id: uuid.UUID
    message: str = Field(min_length=1, max_length=4000, description="the first message, as a visitor would write it")
    intent: Literal["book", "reschedule", "cancel"] = "book"
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    time_zone: str | None = Field(None, description="the visitor's IANA time zone; default: the business's")
    conversation_id: uuid.UUID | None = Field(None, description="tie the run to a conversation (one active run each)")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and visitor_zone(value, "") != value:
            raise ValueError(f"unknown time zone {value!r}")
        return value


class RunMessage(BaseModel):
    message: str = Field(min_length=1, max_length=4000)


async def scheduler(request: Request) -> Scheduler:
    """This replica's Scheduler (opened on first use; closed with the replica)."""
    state = request.app.state
    found: Scheduler | None = getattr(state, "scheduler", None)
    if found is None:
        make_graph = getattr(state, "make_graph", None)
        if make_graph is None:
            raise Unavailable("the scheduling graph is not deployed in this application")
        resources: ServiceResources = state.resources
        found = Scheduler(resources.settings, make_graph=make_graph, pool=resources.db)
        state.scheduler = found
        resources.spawn(_close_when_stopping(resources, found), name="workflows-runs-scheduler")
    await found.start()
    return found


async def _close_when_stopping(resources: ServiceResources, found: Scheduler) -> None:
    await resources.stopping.wait()
    with contextlib.suppress(Exception):
        await found.close()


Runs = Annotated[Scheduler, Depends(scheduler)]


def _resources(request: Request) -> ServiceResources:
    resources: ServiceResources = request.app.state.resources
    return resources


Resources = Annotated[ServiceResources, Depends(_resources)]


async def _run_row(resources: ServiceResources, principal: Principal, run_id: uuid.UUID) -> Any:
    assert resources.db is not None
    row = await resources.db.fetchrow(
        f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1 AND workspace_id = $2", run_id, principal.workspace_id
    )
    if row is None:
        raise NotFound("no such run")
    return row


@router.get("/workflows", response_model=list[WorkflowDefinition], tags=["workflows"])
async def list_workflows(principal: Viewer) -> list[WorkflowDefinition]:
    """The workflows this service runs."""
    return [
        WorkflowDefinition(
            name=WORKFLOW,
            description=(
                "Books, moves or cancels an appointment from a conversation: asks for what is missing (service, "
                "time, name, e-mail), offers free slots as reply buttons, waits for the choice and books it."
            ),
            steps=SCHEDULING_STEPS,
            statuses=["active", "completed", "abandoned", "cancelled", "failed"],
        )
    ]


@router.get("/workflows/runs", response_model=list[RunPublic], tags=["workflows"])
async def list_runs(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    status: RunStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[RunPublic]:
    """The workspace's runs, newest first, filtered by bot, conversation and status."""
    assert resources.db is not None
    rows = await resources.db.fetch(
        f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE workspace_id = $1 "
        "AND ($2::uuid IS NULL OR bot_id = $2) AND ($3::uuid IS NULL OR conversation_id = $3) "
        "AND ($4::text IS NULL OR status = $4) ORDER BY created_at DESC LIMIT $5 OFFSET $6",
        principal.workspace_id,
        bot_id,
        conversation_id,
        status,
        limit,
        offset,
    )
    return [RunPublic.of(row) for row in rows]


@router.post("/workflows/runs", status_code=201, response_model=RunTurn, tags=["workflows"])
async def start_run(data: RunStart, principal: Agent, runs: Runs, resources: Resources) -> RunTurn:
    """Start a scheduling run with a first message, as a visitor would (a member booking for a
    customer, or trying the bot's booking). 404 when the bot is not the workspace's or does not book;
    409 when the conversation already has an active run."""
    result = await runs.start_run(
        workspace_id=principal.workspace_id,
        bot_id=data.bot_id,
        message=data.message,
        language=data.language,
        time_zone=data.time_zone,
        intent=data.intent,
        conversation_id=data.conversation_id,
    )
    if result is None:
        raise NotFound("no such bot, or it does not take bookings")
    return await _turn(resources, principal, result)


async def _turn(resources: ServiceResources, principal: Principal, result: TurnResult) -> RunTurn:
    row = await _run_row(resources, principal, result.run_id)
    return RunTurn(run=RunPublic.of(row), turn=TurnPublic.of(result.turn))


@router.get("/workflows/runs/{run_id}", response_model=RunDetail, tags=["workflows"])
async def get_run(run_id: uuid.UUID, principal: Viewer, runs: Runs, resources: Resources) -> RunDetail:
    """A run: its row, its current state and what it waits for, and its checkpointed history."""
    row = await _run_row(resources, principal, run_id)
    graph = await runs.graph()
    config = {"configurable": {"thread_id": str(run_id)}}
    snapshot = await graph.aget_state(config)
    values = snapshot.values if isinstance(snapshot.values, dict) else {}
    waiting = next((i.value for i in snapshot.interrupts if isinstance(i.value, dict)), None)
    history = [
        Checkpoint(
            checkpoint_id=item.config.get("configurable", {}).get("checkpoint_id"),
            created_at=item.created_at,
            step=(item.metadata or {}).get("step"),
            source=(item.metadata or {}).get("source"),
            next=list(item.next),
            values=_shown(item.values),
        )
        async for item in graph.aget_state_history(config, limit=100)
    ]
    return RunDetail(run=RunPublic.of(row), state=_shown(values), waiting_for=waiting, history=history)


def _shown(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        return {}
    return {key: values[key] for key in SHOWN if key in values}


@router.post("/workflows/runs/{run_id}/resume", response_model=RunTurn, tags=["workflows"])
async def resume_run(
    run_id: uuid.UUID, data: RunMessage, principal: Agent, runs: Runs, resources: Resources
) -> RunTurn:
    """The run's next message (what the visitor would answer); 409 when the run does not wait."""
    result = await runs.resume_run(workspace_id=principal.workspace_id, run_id=run_id, message=data.message)
    return await _turn(resources, principal, result)


@router.post("/workflows/runs/{run_id}/cancel", response_model=RunPublic, tags=["workflows"])
async def cancel_run(run_id: uuid.UUID, principal: Agent, resources: Resources) -> RunPublic:
    """Stop a waiting run (its conversation's next message goes to the bot as any other); 409 when
    it is not active. An appointment it booked stays booked (cancel that under /schedule/bookings)."""
    assert resources.db is not None
    async with resources.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
            run_id,
            principal.workspace_id,
        )
        if row is None:
            raise NotFound("no such run")
        if row["status"] != "active":
            raise Conflict(f"the run is {row['status']}, not active")
        updated = await conn.fetchrow(
            f"UPDATE workflow_runs SET status = 'cancelled', step = 'cancelled', error = 'cancelled by a member', "
            f"updated_at = now() WHERE id = $1 RETURNING {RUN_COLUMNS}",
            run_id,
        )
    return RunPublic.of(updated)

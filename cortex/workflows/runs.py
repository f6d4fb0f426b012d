"""Workflow runs: the chat's booking conversations, each a LangGraph thread that waits for the
visitor between messages.

Core hands a chat turn to `Scheduler.converse` (through the `Scheduler` Serve deployment) when the
message asks to book, move or cancel an appointment, or while the conversation's run waits for the
visitor. A run is a row of `workflow_runs` (its id is the LangGraph thread id; at most one active
scheduling run per conversation) and the graph's checkpoints (`cortex.workflows.checkpoints`). The
first message starts the graph; each later one resumes it with `Command(resume=message)` where it
waits (`interrupt`), on whichever replica takes the turn: the state is in Postgres, so a run
survives the replica that served its previous turn.

A turn holds the run's row locked (`SELECT … FOR UPDATE`) while the graph runs, so two messages of
one conversation never advance the same run at once, across replicas.

The graph itself lives in graphs/scheduling (which this library may not import): the deployment
passes its factory in (`make_graph(deps, checkpointer)`), and `SchedulingDeps` is what the graph
calls here: availability and booking (cortex.workflows.scheduling) and the date reader.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from cortex.contracts.booking import NOT_HANDLED, BookingRequest, BookingStatus, BookingTurn
from cortex.settings import Settings
from cortex.workflows.checkpoints import Checkpoints, open_checkpoints
from cortex.workflows.scheduling import availability, booking
from cortex.workflows.scheduling.models import Appointment, Rules, SlotSearch
from cortex.workflows.scheduling.rules import load_rules
from cortex.workflows.when import WhenParser

log = logging.getLogger("cortex.workflows")

WORKFLOW = "scheduling"
#: The run statuses of workflow_runs.
RunStatus = Literal["active", "completed", "abandoned", "cancelled", "failed"]
#: The graph's status at the end of a run → the run's.
FINAL: dict[str, RunStatus] = {
    "booked": "completed",
    "rescheduled": "completed",
    "cancelled": "completed",
    "abandoned": "abandoned",
    "unavailable": "abandoned",
    "failed": "failed",
}
RUN_COLUMNS = (
    "id, workspace_id, bot_id, workflow, conversation_id, visitor_id, status, step, appointment_id, error, "
    "created_at, updated_at"
)


class SchedulingDeps:
    """What the scheduling graph calls: availability, booking and the date reader, over the
    workflows pool. Built here (cortex code) and handed to the graph's factory."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, when: WhenParser) -> None:
        self.pool = pool
        self.settings = settings
        self.when = when

    async def rules(self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> Rules | None:
        async with self.pool.acquire() as conn:
            return await load_rules(conn, workspace_id=workspace_id, bot_id=bot_id)

    async def find_slots(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        service_id: uuid.UUID,
        after: datetime,
        before: datetime,
        limit: int,
        moving: Appointment | None = None,
    ) -> SlotSearch:
        return await availability.find_slots(
            self.pool,
            self.settings,
            workspace_id=workspace_id,
            bot_id=bot_id,
            service_id=service_id,
            after=after,
            before=before,
            limit=limit,
            moving=moving,
        )

    async def book(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        service_id: uuid.UUID,
        start: datetime,
        name: str,
        email: str,
        time_zone: str,
        language: str,
        conversation_id: uuid.UUID | None,
        visitor_id: str | None,
    ) -> Appointment:
        return await booking.book(
            self.pool,
            self.settings,
            workspace_id=workspace_id,
            bot_id=bot_id,
            service_id=service_id,
            start=start,
            name=name,
            email=email,
            time_zone=time_zone,
            language=language,
            conversation_id=conversation_id,
            visitor_id=visitor_id,
            source="chat",
        )

    async def reschedule(self, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, start: datetime) -> Appointment:
        return await booking.reschedule(
            self.pool,
            self.settings,
            workspace_id=workspace_id,
            appointment_id=appointment_id,
            start=start,
            by="visitor",
        )

    async def cancel(self, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID) -> Appointment:
        return await booking.cancel(
            self.pool, self.settings, workspace_id=workspace_id, appointment_id=appointment_id, by="visitor"
        )

    async def upcoming(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, visitor_id: str | None, conversation_id: uuid.UUID | None
    ) -> list[Appointment]:
        return await booking.upcoming_for_visitor(
            self.pool, workspace_id=workspace_id, bot_id=bot_id, visitor_id=visitor_id, conversation_id=conversation_id
        )

    async def appointment(self, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID) -> Appointment | None:
        async with self.pool.acquire() as conn:
            return await booking.get_appointment(conn, workspace_id=workspace_id, appointment_id=appointment_id)


#: graphs.scheduling.graph.make_graph: (deps, checkpointer) → the compiled graph (LangGraph's CompiledStateGraph).
MakeGraph = Callable[[SchedulingDeps, Any], Any]
#: The compiled graph (typed loosely: cortex may not import graphs/).
Graph = Any


@dataclass(frozen=True)
class TurnContext:
    """One turn's context for the graph (not checkpointed): the bot's rules now, the clock, and what
    core's visitor profile already knows (name, e-mail)."""

    rules: Rules
    now: datetime
    known: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnResult:
    run_id: uuid.UUID
    turn: BookingTurn


def visitor_zone(requested: str | None, business: str) -> str:
    """The visitor's IANA time zone when the widget sent a valid one, else the business's."""
    for name in (requested, business):
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


class Scheduler:
    """Runs the scheduling graph for chat turns (one per replica of the `Scheduler` deployment, and
    one in the workflows API for its /workflows routes)."""

    def __init__(
        self,
        settings: Settings,
        *,
        make_graph: MakeGraph,
        pool: asyncpg.Pool | None = None,
        checkpoints: Checkpoints | None = None,
        when: WhenParser | None = None,
    ) -> None:
        self.settings = settings
        self.make_graph = make_graph
        self._pool = pool
        self._owns_pool = pool is None
        self._checkpoints = checkpoints
        self._when = when
        self._graph: Graph | None = None
        self._lock = asyncio.Lock()
        # A turn holds one pooled connection (its run's row lock) while the graph takes one or two
        # more (availability, booking): at most half the pool in turns at once, so they never wait
        # on each other for a connection.
        self._turns = asyncio.Semaphore(max(1, settings.db_pool_max // 2))

    async def start(self) -> None:
        """Open the pools and build the graph (the date reader's data loads here, not in a turn)."""
        async with self._lock:
            if self._graph is not None:
                return
            if self._pool is None:
                from cortex.db.pool import create_pool

                self._pool = await create_pool(
                    self.settings.service_database_url("workflows"), self.settings, schema="workflows"
                )
            if self._checkpoints is None:
                self._checkpoints = await open_checkpoints(self.settings)
            if self._when is None:
                self._when = await asyncio.to_thread(WhenParser)
            deps = SchedulingDeps(self._pool, self.settings, self._when)
            self._graph = self.make_graph(deps, self._checkpoints.saver)

    async def graph(self) -> Graph:
        if self._graph is None:
            await self.start()
        assert self._graph is not None
        return self._graph

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "Scheduler.start() first"
        return self._pool

    async def close(self) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.close()
        if self._owns_pool and self._pool is not None:
            await self._pool.close()

    async def ready(self) -> None:
        """Raises when the run table or the checkpoint tables cannot be read."""
        await self.graph()
        await self.pool.fetchval("SELECT 1 FROM workflow_runs LIMIT 1")
        assert self._checkpoints is not None
        await self._checkpoints.ping()

    # -- the chat's turns -----------------------------------------------------------------------

    async def converse(self, request: BookingRequest) -> BookingTurn:
        """One chat turn of a booking conversation. NOT_HANDLED when the bot does not book, or when
        nothing waits and the message is not about an appointment (core answers it as any other)."""
        async with self._turns:
            return await self._converse(request)

    async def _converse(self, request: BookingRequest) -> BookingTurn:
        graph = await self.graph()
        async with self.pool.acquire() as conn:
            rules = await load_rules(conn, workspace_id=request.workspace_id, bot_id=request.bot_id)
            if rules is None:
                await self._close_active(conn, request, status="abandoned", error="the bot stopped taking bookings")
                return NOT_HANDLED
            async with conn.transaction():
                run = await self._active_run(conn, request)
                if run is None and request.intent is None:
                    return NOT_HANDLED
                if run is None:
                    run = await self._new_run(conn, request)
                    command: Any = self._start_input(request, rules, run_id=run["id"])
                else:
                    from langgraph.types import Command

                    command = Command(resume=request.message)
                result = await self._advance(
                    conn, graph, run_id=run["id"], command=command, rules=rules, known=request.known
                )
        return result.turn

    async def start_run(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        message: str,
        language: str,
        time_zone: str | None,
        intent: Literal["book", "reschedule", "cancel"],
        conversation_id: uuid.UUID | None = None,
        visitor_id: str | None = None,
        known: dict[str, str] | None = None,
    ) -> TurnResult | None:
        """Start a run outside the chat (the /workflows API); None when the bot does not book."""
        request = BookingRequest(
            workspace_id=workspace_id,
            bot_id=bot_id,
            conversation_id=conversation_id or uuid.uuid4(),
            visitor_id=visitor_id,
            message=message,
            time_zone=time_zone,
            language=language,
            intent=intent,
            known=known or {},
        )
        graph = await self.graph()
        async with self._turns, self.pool.acquire() as conn:
            rules = await load_rules(conn, workspace_id=workspace_id, bot_id=bot_id)
            if rules is None:
                return None
            async with conn.transaction():
                if conversation_id is not None and await self._active_run(conn, request) is not None:
                    from cortex.errors import Conflict

                    raise Conflict("this conversation already has an active scheduling run")
                run = await self._new_run(conn, request, conversation=conversation_id is not None)
                command = self._start_input(request, rules, run_id=run["id"])
                if conversation_id is None:
                    command["conversation_id"] = None
                return await self._advance(
                    conn, graph, run_id=run["id"], command=command, rules=rules, known=known or {}
                )

    async def resume_run(self, *, workspace_id: uuid.UUID, run_id: uuid.UUID, message: str) -> TurnResult:
        """The next message of a run (the /workflows API); NotFound / Conflict when it does not wait."""
        from langgraph.types import Command

        from cortex.errors import Conflict, NotFound

        graph = await self.graph()
        async with self._turns, self.pool.acquire() as conn, conn.transaction():
            run = await conn.fetchrow(
                f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
                run_id,
                workspace_id,
            )
            if run is None:
                raise NotFound("no such run")
            if run["status"] != "active":
                raise Conflict(f"the run is {run['status']}, not waiting for a message")
            rules = await load_rules(conn, workspace_id=workspace_id, bot_id=run["bot_id"])
            if rules is None:
                raise Conflict("the bot does not take bookings")
            return await self._advance(
                conn, graph, run_id=run_id, command=Command(resume=message), rules=rules, known={}
            )

    # -- internals --------------------------------------------------------------------------------

    def _zone(self, request: BookingRequest, rules: Rules) -> str:
        return visitor_zone(request.time_zone, rules.settings.time_zone)

    def _start_input(self, request: BookingRequest, rules: Rules, *, run_id: uuid.UUID) -> dict[str, Any]:
        return {
            "workspace_id": str(request.workspace_id),
            "bot_id": str(request.bot_id),
            "conversation_id": str(request.conversation_id),
            "visitor_id": request.visitor_id,
            "language": request.language,
            "time_zone": self._zone(request, rules),
            "intent": request.intent or "book",
            "message": request.message,
            "awaiting": "",
            "unreadable": 0,
        }

    async def _active_run(self, conn: asyncpg.Connection, request: BookingRequest) -> asyncpg.Record | None:
        """The conversation's active run, locked for this turn; one idle past its time is abandoned."""
        run = await conn.fetchrow(
            f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE conversation_id = $1 AND workspace_id = $2 "
            "AND workflow = $3 AND status = 'active' FOR UPDATE",
            request.conversation_id,
            request.workspace_id,
            WORKFLOW,
        )
        if run is None:
            return None
        idle = datetime.now(UTC) - run["updated_at"]
        if idle > timedelta(seconds=self.settings.workflows_run_idle_s):
            await conn.execute(
                "UPDATE workflow_runs SET status = 'abandoned', error = 'the visitor did not answer in time', "
                "updated_at = now() WHERE id = $1",
                run["id"],
            )
            return None
        return run

    async def _new_run(
        self, conn: asyncpg.Connection, request: BookingRequest, *, conversation: bool = True
    ) -> asyncpg.Record:
        row = await conn.fetchrow(
            f"INSERT INTO workflow_runs (id, workspace_id, bot_id, workflow, conversation_id, visitor_id, step) "
            f"VALUES ($1, $2, $3, $4, $5, $6, 'start') RETURNING {RUN_COLUMNS}",
            uuid.uuid4(),
            request.workspace_id,
            request.bot_id,
            WORKFLOW,
            request.conversation_id if conversation else None,
            request.visitor_id,
        )
        assert row is not None
        return row

    async def _close_active(
        self, conn: asyncpg.Connection, request: BookingRequest, *, status: RunStatus, error: str | None
    ) -> None:
        await conn.execute(
            "UPDATE workflow_runs SET status = $4, error = $5, updated_at = now() "
            "WHERE conversation_id = $1 AND workspace_id = $2 AND workflow = $3 AND status = 'active'",
            request.conversation_id,
            request.workspace_id,
            WORKFLOW,
            status,
            error,
        )

    async def _advance(
        self,
        conn: asyncpg.Connection,
        graph: Graph,
        *,
        run_id: uuid.UUID,
        command: Any,
        rules: Rules,
        known: dict[str, str],
    ) -> TurnResult:
        """Run the graph until it waits for the visitor or ends; keep the run's row current."""
        config = {"configurable": {"thread_id": str(run_id)}}
        context = TurnContext(rules=rules, now=datetime.now(UTC), known=dict(known))
        try:
            output = await graph.ainvoke(command, config, context=context, version="v2")
        except Exception as exc:  # noqa: BLE001 - the visitor gets core's fixed reply; the run records why
            log.exception("scheduling run %s failed", run_id)
            await conn.execute(
                "UPDATE workflow_runs SET status = 'failed', step = 'failed', error = $2, updated_at = now() "
                "WHERE id = $1",
                run_id,
                repr(exc)[:500],
            )
            return TurnResult(run_id, BookingTurn(handled=True, status="failed"))
        values: dict[str, Any] = output.value if isinstance(output.value, dict) else {}
        interrupts = tuple(output.interrupts)
        if interrupts:
            payload = interrupts[0].value if isinstance(interrupts[0].value, dict) else {}
            status: BookingStatus = payload.get("status") or "asking"
            turn = BookingTurn(
                handled=True,
                reply=str(payload.get("reply", "")),
                actions=list(payload.get("actions", [])),
                status=status,
                active=True,
            )
            run_status: RunStatus = "active"
            step = str(values.get("awaiting") or status)
        else:
            status = values.get("status") or "failed"
            handled = bool(values.get("handled", True)) and bool(values.get("reply"))
            appointment = values.get("appointment_id") if status in ("booked", "rescheduled", "cancelled") else None
            turn = BookingTurn(
                handled=handled,
                reply=str(values.get("reply", "")) if handled else "",
                actions=list(values.get("actions", [])) if handled else [],
                status=status,
                active=False,
                appointment_id=uuid.UUID(appointment) if appointment else None,
            )
            run_status = FINAL.get(status, "failed") if handled else "abandoned"
            step = status
        await conn.execute(
            "UPDATE workflow_runs SET status = $2, step = $3, appointment_id = COALESCE($4, appointment_id), "
            "updated_at = now() WHERE id = $1",
            run_id,
            run_status,
            step,
            turn.appointment_id,
        )
        return TurnResult(run_id, turn)

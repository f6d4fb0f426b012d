"""Events workflows reacts to (consumer group `workflows`; the bots it knows of have their own group,
cortex/workflows/scheduling/bots.py).

- `visitor.erased`: the visitor's appointments (by visitor id, by their conversations, or by their
  address's keyed digest) lose the name, address and notes, and keep their time, so the slot stays
  taken, and the events written into connected calendars are rewritten without them (a
  `calendar_sync` task, after commit); their tasks' payloads lose any personal field, and queued
  follow-ups about them are cancelled; their scheduling runs forget the visitor, and the runs'
  LangGraph checkpoints (every message and fact the graph kept) are deleted.
- `lead.captured`: a `follow_up` task after the bot's booking_settings.follow_up_hours, telling the
  owner to follow up with this lead unless the conversation books by then. Chosen over
  `conversation.closed`: a captured lead is the moment there is someone to follow up with, and the
  delay counts from it; a conversation that closes without a lead left nobody to contact. A booking
  made meanwhile cancels the follow-up (the task checks again when it comes due).

Each event is handled once: the bus records it in `processed_events` in the handler's transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from cortex.bus import Event
from cortex.contracts.events import LeadCaptured, VisitorErased, read_payload
from cortex.email_address import email_digest
from cortex.settings import Settings
from cortex.workflows.notify import store as task_store
from cortex.workflows.scheduling.rules import load_booking_settings

if TYPE_CHECKING:
    from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.workflows.events")

GROUP = "workflows"
EVENT_TYPES = ["visitor.erased", "lead.captured"]
# LangGraph's checkpointer tables (cortex migrate creates them in the workflows schema), keyed by
# thread_id = workflow_runs.id.
CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


async def forget_visitor(
    conn: asyncpg.Connection, settings: Settings, *, workspace_id: uuid.UUID, erased: VisitorErased
) -> dict[str, int]:
    """Everything workflows holds about the visitor, made anonymous or deleted; counts per kind."""
    conversation_ids = list(erased.conversation_ids)
    by_address: list[uuid.UUID] = []
    if erased.email_digest:
        # Appointments a member booked for the address, outside any conversation: found by the digest.
        for row in await conn.fetch(
            "SELECT id, email FROM appointments WHERE workspace_id = $1 AND email IS NOT NULL", workspace_id
        ):
            if email_digest(settings, row["email"]) == erased.email_digest:
                by_address.append(row["id"])
    anonymised = await conn.fetch(
        """
        UPDATE appointments SET name = NULL, email = NULL, notes = '', visitor_id = NULL, updated_at = now()
         WHERE workspace_id = $1
           AND ((visitor_id IS NOT NULL AND visitor_id = $2) OR conversation_id = ANY($3) OR id = ANY($4))
        RETURNING id, external
        """,
        workspace_id,
        erased.visitor_id,
        conversation_ids,
        by_address,
    )
    appointment_ids = [row["id"] for row in anonymised]
    tasks = await task_store.scrub_visitor(
        conn, workspace_id=workspace_id, appointment_ids=appointment_ids, conversation_ids=conversation_ids
    )
    # The events written into connected calendars name the visitor too: rewritten after commit.
    for row in anonymised:
        if row["external"] and row["external"] != "{}":
            await task_store.queue_task(
                conn,
                workspace_id=workspace_id,
                kind="calendar_sync",
                due_at=datetime.now(UTC),
                payload={"reason": "visitor.erased"},
                appointment_id=row["id"],
            )
    run_ids = [
        row["id"]
        for row in await conn.fetch(
            """
            UPDATE workflow_runs SET visitor_id = NULL, updated_at = now()
             WHERE workspace_id = $1
               AND ((visitor_id IS NOT NULL AND visitor_id = $2) OR conversation_id = ANY($3)
                    OR appointment_id = ANY($4))
            RETURNING id
            """,
            workspace_id,
            erased.visitor_id,
            conversation_ids,
            appointment_ids,
        )
    ]
    threads = [str(run_id) for run_id in run_ids]
    checkpoints = 0
    for table in CHECKPOINT_TABLES:
        result = await conn.execute(f"DELETE FROM {table} WHERE thread_id = ANY($1::text[])", threads)
        checkpoints += int(result.rsplit(" ", 1)[1])
    return {"appointments": len(appointment_ids), "tasks": tasks, "runs": len(run_ids), "checkpoints": checkpoints}


async def plan_follow_up(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, lead: LeadCaptured) -> uuid.UUID | None:
    """A follow-up task for the lead's conversation after the bot's follow_up_hours (None: the bot
    has no booking settings or no follow-up, the conversation booked, or one is planned already)."""
    booking = await load_booking_settings(conn, workspace_id=workspace_id, bot_id=lead.bot_id)
    if booking is None or not booking.follow_up_hours:
        return None
    if await task_store.conversation_booked(conn, workspace_id=workspace_id, conversation_id=lead.conversation_id):
        return None
    planned = await conn.fetchval(
        "SELECT 1 FROM tasks WHERE workspace_id = $1 AND conversation_id = $2 AND kind = 'follow_up' "
        "AND status IN ('queued', 'running', 'succeeded')",
        workspace_id,
        lead.conversation_id,
    )
    if planned:
        return None
    return await task_store.queue_task(
        conn,
        workspace_id=workspace_id,
        kind="follow_up",
        due_at=datetime.now(UTC) + timedelta(hours=booking.follow_up_hours),
        conversation_id=lead.conversation_id,
        payload={"bot_id": str(lead.bot_id), "hours": booking.follow_up_hours},
    )


def handler(settings: Settings) -> Any:
    async def handle(event: Event, conn: asyncpg.Connection) -> None:
        workspace_id = event.workspace_id
        if workspace_id is None:
            log.warning("workflows: %s %s carries no workspace; ignored", event.event_type, event.event_id)
            return
        if event.event_type == "visitor.erased":
            counts = await forget_visitor(
                conn, settings, workspace_id=workspace_id, erased=read_payload(VisitorErased, event.payload)
            )
            log.info("workflows: visitor erased in workspace %s: %s", workspace_id, counts)
        elif event.event_type == "lead.captured":
            await plan_follow_up(conn, workspace_id=workspace_id, lead=read_payload(LeadCaptured, event.payload))

    return handle


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handler(resources.settings))

"""Events the helper reacts to (consumer group `helper`): what it learns from, and what it must forget.

- `conversation.started`: the helper's row of the conversation, with its visitor (the unit of an
  experiment; whom an erasure names).
- `message.created`: a bot message that carried guidance (a pattern, an experiment arm, or both) is
  an application; one arriving after its conversation was credited is credited at once.
- `message.rated`: the rating of an application; the pattern's thumbs move by the change.
- `lead.captured`, `appointment.booked`, `conversation.handoff`: the conversation's outcome labels
  (lead_captured, booked, escalated); a conversation already credited moves by the difference.
- `conversation.closed`: every (pattern, situation) applied in the conversation is credited with
  its outcomes, by the difference to what it was credited before (`credit.py`).
- `visitor.erased`: the helper's rows of those conversations (the conversation, its applications,
  what it saw and advised) and their cached analyses in Redis go; their ids are kept so a late
  event about them records nothing.
- `bot.created` / `bot.deleted`: the bots the helper knows of; a deleted bot's settings go, its own
  patterns retire and its running experiments stop (`store.bots`).

Each event is handled once (the bus records it in `processed_events` in the handler's transaction),
and crediting moves statistics by differences, so even the same outcome announced twice counts once.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis

from cortex.background import repeat
from cortex.bus import Event, Handler
from cortex.contracts.events import (
    AppointmentBooked,
    BotCreated,
    BotDeleted,
    ConversationClosed,
    ConversationHandedOver,
    ConversationStarted,
    EventPayload,
    LeadCaptured,
    MessageCreated,
    MessageRated,
    Outcome,
    VisitorErased,
    read_payload,
)
from cortex.helper import credit
from cortex.helper.advice_log import prune
from cortex.helper.guide import AnalysisCache
from cortex.helper.store.bots import add_bot, remove_bot
from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.helper")

# Hourly: the advice log is kept for days, so an hour's overrun is nothing, and each run deletes
# about an hour's rows.
PRUNE_INTERVAL_S = 3600.0

# The events that label a conversation with an outcome, and the label.
LABELS: dict[str, tuple[type[LeadCaptured | AppointmentBooked | ConversationHandedOver], Outcome]] = {
    "lead.captured": (LeadCaptured, "lead_captured"),
    "appointment.booked": (AppointmentBooked, "booked"),
    "conversation.handoff": (ConversationHandedOver, "escalated"),
}

Payload = TypeVar("Payload", bound=EventPayload)

GROUP = "helper"
EVENT_TYPES = [
    "bot.created",
    "bot.deleted",
    "conversation.started",
    "message.created",
    "message.rated",
    "lead.captured",
    "conversation.handoff",
    "appointment.booked",
    "conversation.closed",
    "visitor.erased",
]


def _read(model: type[Payload], payload: dict[str, Any]) -> Payload:
    """The payload as its contract's model, reading only the fields the contract names: an event
    written before a field was dropped (a `lead.captured` that still carried the address) is read,
    not refused. A payload that does not fit fails without its values in the error, which the bus
    keeps in Redis and the log."""
    return read_payload(model, payload)


def handler(redis: aioredis.Redis, *, ttl_s: int) -> Handler:
    cache = AnalysisCache(redis, ttl_s=ttl_s)

    async def handle(event: Event, conn: asyncpg.Connection) -> None:
        workspace_id = event.workspace_id
        if workspace_id is None:  # every event the helper reads is a tenant's
            log.warning("helper: %s %s carries no workspace; ignored", event.event_type, event.event_id)
            return
        kind, payload = event.event_type, event.payload
        if kind == "conversation.started":
            started = _read(ConversationStarted, payload)
            await credit.conversation_started(
                conn,
                workspace_id=workspace_id,
                conversation_id=started.conversation_id,
                bot_id=started.bot_id,
                visitor_id=started.visitor_id,
                started_at=event.occurred_at,
            )
        elif kind == "message.created":
            message = _read(MessageCreated, payload)
            if message.role == "bot":
                await credit.guidance_applied(
                    conn,
                    workspace_id=workspace_id,
                    conversation_id=message.conversation_id,
                    message_id=message.message_id,
                    bot_id=message.bot_id,
                    pattern_id=message.pattern_id,
                    experiment_id=message.experiment_id,
                    arm=message.arm,
                    situation=message.situation,
                    created_at=event.occurred_at,
                )
        elif kind == "message.rated":
            rated = _read(MessageRated, payload)
            await credit.message_rated(
                conn, workspace_id=workspace_id, message_id=rated.message_id, rating=rated.rating
            )
        elif kind in LABELS:
            model, label = LABELS[kind]
            labelled = _read(model, payload)
            if labelled.conversation_id is not None:  # a booking made outside a chat credits no guidance
                await credit.outcome_labelled(
                    conn,
                    workspace_id=workspace_id,
                    conversation_id=labelled.conversation_id,
                    bot_id=labelled.bot_id,
                    label=label,
                )
        elif kind == "conversation.closed":
            closed = _read(ConversationClosed, payload)
            await credit.conversation_closed(
                conn,
                workspace_id=workspace_id,
                conversation_id=closed.conversation_id,
                bot_id=closed.bot_id,
                visitor_id=closed.visitor_id,
                outcomes=closed.outcomes,
                closed_at=closed.closed_at,
            )
        elif kind == "visitor.erased":
            erased = _read(VisitorErased, payload)
            await credit.forget_conversations(conn, workspace_id=workspace_id, conversation_ids=erased.conversation_ids)
            # Redis last: a failure here retries the whole event, and the deletes above repeat harmlessly.
            await cache.forget(erased.conversation_ids)
        elif kind == "bot.created":
            await add_bot(conn, workspace_id=workspace_id, bot_id=_read(BotCreated, payload).bot_id)
        elif kind == "bot.deleted":
            await remove_bot(conn, workspace_id=workspace_id, bot_id=_read(BotDeleted, payload).bot_id)

    return handle


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    assert resources.redis is not None
    await resources.consume(
        group=GROUP,
        event_types=EVENT_TYPES,
        handler=handler(resources.redis, ttl_s=resources.settings.helper_analysis_ttl_s),
    )


async def prune_advice_log(resources: ServiceResources) -> None:
    """Delete what the helper saw and advised past `CORTEX_HELPER_ADVICE_RETENTION_DAYS`, hourly, for
    the replica's lifetime (replicas doing it at once delete disjoint rows or nothing)."""
    assert resources.db is not None
    pool, settings = resources.db, resources.settings

    async def prune_once() -> None:
        async with pool.acquire() as conn:
            deleted = await prune(conn, retention_days=settings.helper_advice_retention_days)
        if deleted:
            log.info("helper: %d advice rows past their retention deleted", deleted)

    await repeat(prune_once, every_s=PRUNE_INTERVAL_S, stop=resources.stopping, what="pruning the advice log")

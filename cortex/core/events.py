"""Events core reacts to (consumer group `core`), its own included.

- `user.registered` (signup saga, core's step): the member gets a profile in their workspace.
- `message.created`: a visitor's message enriches their profile (name, e-mail, phone, company),
  and every message is pushed to the conversation's live streams (cortex.core.live).
- handoff and status changes of a conversation, and its closing: pushed to its live streams.
- `appointment.booked` (from workflows): the conversation it was booked from is labelled `booked`
  (announced closed again, with the label, when it had closed already).
- `knowledge.changed` (from knowledge) and `bot.updated`: the bot's cached answers are dropped
  (and, for `bot.updated`, its cached widget config).
- `visitor.erased`: `lead.captured` events from before they stopped carrying the address, still on
  the streams, are deleted (cortex.core.service.erasure).

Reacting to core's own committed events (rather than calling from the chat path) means
anything that records a message the one way (cortex.core.service.conversations) is enriched
and live with no extra call, and the visitor's turn never waits for either.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis

from cortex.bus import Event, Handler
from cortex.core import answers, live, store
from cortex.core.service import closing, enrich_profile, forget_widget_config
from cortex.core.service.erasure import drop_lead_events_with_address
from cortex.http.app import ServiceResources

GROUP = "core"
STATUS_EVENTS = ("conversation.updated", "conversation.handoff", "conversation.handback")
# What a bot knows or how it is set up changed: its cached answers (cortex.core.answers) go.
CACHE_EVENTS = ("knowledge.changed", "bot.updated")
EVENT_TYPES = [
    "user.registered",
    "message.created",
    *STATUS_EVENTS,
    "conversation.closed",
    *CACHE_EVENTS,
    "visitor.erased",
    "appointment.booked",
]
# Live updates older than this are not pushed (a consumer catching up after downtime): streams
# replay from Postgres on (re)connect, and a stale push would only arrive out of order.
LIVE_MAX_AGE_S = 60.0


def handler(redis: aioredis.Redis | None) -> Handler:
    """The group's handler; with `redis`, it also pushes live updates."""

    async def handle(event: Event, conn: asyncpg.Connection) -> None:
        payload = event.payload
        if event.event_type == "user.registered":
            await store.upsert_member_profile(
                conn,
                workspace_id=uuid.UUID(payload["workspace_id"]),
                visitor_id=f"member:{payload['user_id']}",
                name=payload.get("display_name") or None,
                email=payload["email"],
            )
            return
        if event.workspace_id is None:
            return
        if event.event_type in CACHE_EVENTS:
            if redis is not None:  # idempotent: a redelivery only moves the generation on again
                await answers.invalidate(redis, payload["bot_id"])
                if event.event_type == "bot.updated":  # the API dropped it too; this covers a Redis blip
                    await forget_widget_config(redis, payload["bot_id"])
            return
        if event.event_type == "appointment.booked":
            if payload.get("conversation_id"):  # a booking made outside a chat labels nothing
                await closing.label(
                    conn,
                    workspace_id=event.workspace_id,
                    conversation_id=uuid.UUID(payload["conversation_id"]),
                    outcome="booked",
                )
            return
        if event.event_type == "visitor.erased":
            if redis is not None:  # idempotent: what a redelivery finds was already deleted
                await drop_lead_events_with_address(redis, payload["profile_id"])
            return
        fresh = redis is not None and (datetime.now(UTC) - event.occurred_at).total_seconds() < LIVE_MAX_AGE_S
        if event.event_type == "message.created":
            row = await store.message_for_event(
                conn, workspace_id=event.workspace_id, message_id=uuid.UUID(payload["message_id"])
            )
            if row is None:
                return  # the conversation was deleted since
            if row["role"] == "visitor" and row["profile_id"] is not None:
                await enrich_profile(
                    conn,
                    workspace_id=event.workspace_id,
                    profile_id=row["profile_id"],
                    message=row["content"],
                    language=row["language"],
                )
            if fresh:
                assert redis is not None
                await live.publish(redis, row["conversation_id"], live.message_update(row, row["conversation_id"]))
        elif event.event_type in STATUS_EVENTS and fresh and "status" in payload:
            assert redis is not None
            update = live.status_update(payload["conversation_id"], payload["status"], payload.get("assigned_agent"))
            await live.publish(redis, payload["conversation_id"], update)
        elif event.event_type == "conversation.closed" and fresh:
            assert redis is not None
            await live.publish(
                redis, payload["conversation_id"], live.status_update(payload["conversation_id"], "closed", None)
            )

    return handle


handle = handler(None)


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handler(resources.redis))

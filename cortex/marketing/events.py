"""Events marketing reacts to (consumer group `marketing`)."""

from __future__ import annotations

import uuid
from functools import partial

import asyncpg

from cortex.bus import Event
from cortex.email_address import email_digest
from cortex.http.app import ServiceResources
from cortex.marketing import store
from cortex.settings import Settings

GROUP = "marketing"


EVENT_TYPES = ["user.registered", "lead.captured", "visitor.erased"]


async def handle(event: Event, conn: asyncpg.Connection, settings: Settings) -> None:
    """Record marketing consent where the person gave it (at sign-up, or in a widget's lead form), and
    forget a visitor who was erased."""
    if event.event_type == "lead.captured" and event.payload.get("marketing_consent"):
        assert event.workspace_id is not None
        await store.record_visitor_consent(
            conn,
            workspace_id=event.workspace_id,
            profile_id=uuid.UUID(event.payload["profile_id"]),
            source_event=event.event_id,
        )
    if event.event_type == "visitor.erased":
        assert event.workspace_id is not None
        await store.forget_visitor(
            conn,
            workspace_id=event.workspace_id,
            profile_id=uuid.UUID(event.payload["profile_id"]),
            email_digest=event.payload.get("email_digest"),
            digest=partial(email_digest, settings),
        )
    if event.event_type == "user.registered" and event.payload.get("marketing_consent"):
        await store.record_consent(
            conn,
            workspace_id=uuid.UUID(event.payload["workspace_id"]),
            email=event.payload["email"],
            user_id=uuid.UUID(event.payload["user_id"]),
            source="signup",
            source_event=event.event_id,
        )


async def consume(resources: ServiceResources) -> None:
    async def handler(event: Event, conn: asyncpg.Connection) -> None:
        await handle(event, conn, resources.settings)

    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handler)

"""Events marketing reacts to (consumer group `marketing`)."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.bus import Event
from cortex.http.app import ServiceResources
from cortex.marketing import store

GROUP = "marketing"


EVENT_TYPES = ["user.registered", "lead.captured"]


async def handle(event: Event, conn: asyncpg.Connection) -> None:
    """Record marketing consent where the person gave it: at sign-up, or in a widget's lead form."""
    if event.event_type == "lead.captured" and event.payload.get("marketing_consent") and event.payload.get("email"):
        assert event.workspace_id is not None
        await store.record_consent(
            conn,
            workspace_id=event.workspace_id,
            email=event.payload["email"],
            user_id=None,
            source="widget",
            source_event=event.event_id,
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
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handle)

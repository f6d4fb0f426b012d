"""Events core reacts to (consumer group `core`)."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.bus import Event
from cortex.core import store
from cortex.http.app import ServiceResources

GROUP = "core"


async def handle(event: Event, conn: asyncpg.Connection) -> None:
    """Signup saga, core's step: a registered member gets a profile in their workspace."""
    if event.event_type == "user.registered":
        payload = event.payload
        await store.upsert_member_profile(
            conn,
            workspace_id=uuid.UUID(payload["workspace_id"]),
            visitor_id=f"member:{payload['user_id']}",
            name=payload.get("display_name") or None,
            email=payload["email"],
        )


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=["user.registered"], handler=handle)

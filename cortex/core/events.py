"""Events core reacts to (consumer group `core`)."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.bus import Consumer, Event, stream_for
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
    assert resources.db is not None and resources.redis is not None
    consumer = Consumer(
        pool=resources.db,
        redis=resources.redis,
        schema="core",
        group=GROUP,
        streams=[stream_for("user.registered")],
        handler=handle,
        max_deliveries=resources.settings.bus_max_deliveries,
        retry_base_s=resources.settings.bus_retry_base_s,
    )
    await consumer.run(resources.stopping)

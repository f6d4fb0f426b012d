"""Events marketing reacts to (consumer group `marketing`)."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.bus import Consumer, Event, stream_for
from cortex.http.app import ServiceResources
from cortex.marketing import store

GROUP = "marketing"


async def handle(event: Event, conn: asyncpg.Connection) -> None:
    """Signup saga, marketing's step: record consent when the person gave it at sign-up."""
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
    assert resources.db is not None and resources.redis is not None
    consumer = Consumer(
        pool=resources.db,
        redis=resources.redis,
        schema="marketing",
        group=GROUP,
        streams=[stream_for("user.registered")],
        handler=handle,
        max_deliveries=resources.settings.bus_max_deliveries,
        retry_base_s=resources.settings.bus_retry_base_s,
    )
    await consumer.run(resources.stopping)

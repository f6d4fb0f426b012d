"""Events the helper reacts to (consumer group `helper`).

- `visitor.erased`: the cached analyses of the erased visitor's conversations go (they hold no words
  or values of the visitor, but they describe their conversations, and erasure leaves nothing of
  them behind). Idempotent: a redelivery deletes keys that are already gone.
- `bot.created` / `bot.deleted`: the helper knows which bots are whose (store.bots); a deleted bot's
  settings go, its own patterns retire and its running experiments stop (store.remove_bot).
"""

from __future__ import annotations

import uuid

import asyncpg
import redis.asyncio as aioredis

from cortex.bus import Event, Handler
from cortex.helper import store
from cortex.helper.guide import AnalysisCache
from cortex.http.app import ServiceResources

GROUP = "helper"
EVENT_TYPES = ["visitor.erased", "bot.created", "bot.deleted"]


def handler(redis: aioredis.Redis, *, ttl_s: int) -> Handler:
    cache = AnalysisCache(redis, ttl_s=ttl_s)

    async def handle(event: Event, conn: asyncpg.Connection) -> None:
        if event.event_type == "visitor.erased":
            await cache.forget(event.payload.get("conversation_ids") or [])
        elif event.event_type in ("bot.created", "bot.deleted") and event.workspace_id is not None:
            bot_id = uuid.UUID(event.payload["bot_id"])
            if event.event_type == "bot.created":
                await store.add_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)
            else:
                await store.remove_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)

    return handle


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    assert resources.redis is not None
    await resources.consume(
        group=GROUP,
        event_types=EVENT_TYPES,
        handler=handler(resources.redis, ttl_s=resources.settings.helper_analysis_ttl_s),
    )

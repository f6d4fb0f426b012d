"""The bots scheduling knows of (consumer group `workflows-bots`): core's `bot.created` adds a bot, so
a member may set booking rules for it, and `bot.deleted` stops its booking (its settings, closures and
busy blocks go, its services and resources are switched off; its appointments stay on record).

Workflows never reads core's schema: this table is filled only by the events, as the helper's and
knowledge's are. A bot created a moment ago may not have arrived yet: `require_bot` waits for it.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
import redis.asyncio as aioredis

from cortex.bus import Event, await_arrival
from cortex.contracts.events import BotCreated, BotDeleted
from cortex.http.app import ServiceResources
from cortex.workflows.scheduling import store

log = logging.getLogger("cortex.workflows")

GROUP = "workflows-bots"
EVENT_TYPES = ["bot.created", "bot.deleted"]
# Core's `bot.created` reaches workflows in tens of milliseconds when idle; a request naming a bot
# created a moment ago waits this long for it before the 404, as the helper does.
BOT_ARRIVAL_WAIT_S = 2.0


async def handle(event: Event, conn: asyncpg.Connection) -> None:
    workspace_id = event.workspace_id
    if workspace_id is None:
        log.warning("workflows: %s %s carries no workspace; ignored", event.event_type, event.event_id)
        return
    if event.event_type == "bot.created":
        created = BotCreated.model_validate({k: v for k, v in event.payload.items() if k in BotCreated.model_fields})
        await store.add_bot(conn, workspace_id=workspace_id, bot_id=created.bot_id)
    elif event.event_type == "bot.deleted":
        deleted = BotDeleted.model_validate({k: v for k, v in event.payload.items() if k in BotDeleted.model_fields})
        await store.remove_bot(conn, workspace_id=workspace_id, bot_id=deleted.bot_id)


async def consume_bots(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handle)


async def require_bot(
    pool: asyncpg.Pool, redis: aioredis.Redis | None, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> None:
    """404 unless the bot is the workspace's (another workspace's bot at once); a bot not heard of yet is
    waited for, then 503 instead of the 404 while `bot.created` events are still unread."""

    async def known() -> bool | None:
        async with pool.acquire() as conn:
            owner = await store.workspace_of_bot(conn, bot_id=bot_id)
        return None if owner is None else owner == workspace_id

    await await_arrival(
        known, redis=redis, group=GROUP, event_type="bot.created", what="bot", wait_s=BOT_ARRIVAL_WAIT_S
    )

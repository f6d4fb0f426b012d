"""Events auth reacts to (consumer group `auth`).

- `bot.deleted`: the bot's widget keys are revoked, so a snippet left on a site stops asking.
"""

from __future__ import annotations

import uuid

import asyncpg

from cortex.auth import store
from cortex.bus import Event
from cortex.http.app import ServiceResources

GROUP = "auth"
EVENT_TYPES = ["bot.deleted"]


async def handle(event: Event, conn: asyncpg.Connection) -> None:
    if event.event_type == "bot.deleted" and event.workspace_id is not None:
        bot_id = uuid.UUID(event.payload["bot_id"])
        await store.revoke_widget_keys_of_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handle)

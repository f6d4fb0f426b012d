"""Events knowledge reacts to (consumer group `knowledge`).

- `bot.created`: the bot may be taught (its id and workspace are kept, see store.bots).
- `bot.deleted`: everything it was taught goes: sources, chunks, FAQs, vectors, originals.
"""

from __future__ import annotations

import uuid

import asyncpg

from cortex.bus import Event, Handler
from cortex.http.app import ServiceResources
from cortex.knowledge import objects, store
from cortex.knowledge.vectors import VectorStore, chunk_collection, faq_collection

GROUP = "knowledge"
EVENT_TYPES = ["bot.created", "bot.deleted"]


def handler(resources: ServiceResources) -> Handler:
    settings = resources.settings
    vectors = VectorStore(settings.resolved_chroma_url())
    object_store = objects.open_object_store(
        settings.resolved_object_store_url(), s3_endpoint_url=settings.s3_endpoint_url
    )

    async def handle(event: Event, conn: asyncpg.Connection) -> None:
        if event.workspace_id is None:
            return
        bot_id = uuid.UUID(event.payload["bot_id"])
        if event.event_type == "bot.created":
            await store.add_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)
            return
        if event.event_type != "bot.deleted":
            return
        keys = await store.object_keys_of_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)
        await store.remove_bot(conn, workspace_id=event.workspace_id, bot_id=bot_id)
        # Idempotent clean-ups outside Postgres: a redelivery repeats them harmlessly.
        await vectors.drop(chunk_collection(bot_id))
        await vectors.drop(faq_collection(bot_id))
        for key in keys:
            await objects.delete(object_store, key)

    return handle


async def consume(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime; several replicas share the group's work."""
    await resources.consume(group=GROUP, event_types=EVENT_TYPES, handler=handler(resources))

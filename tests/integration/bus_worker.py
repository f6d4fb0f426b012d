"""A consumer process for the crash test: handles one event, then hangs mid-transaction.

Run as ``python -m tests.integration.bus_worker DB_URL REDIS_URL SCHEMA GROUP STREAM MARKER``;
it writes MARKER once it is inside the handler, so the test knows when to SIGKILL it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from cortex.bus import Consumer, Event
from cortex.db import create_pool
from cortex.settings import Settings


async def main(db_url: str, redis_url: str, schema: str, group: str, stream: str, marker: str) -> None:
    pool = await create_pool(db_url, Settings(), schema=schema)
    redis = aioredis.Redis.from_url(redis_url)

    async def handler(event: Event, conn: asyncpg.Connection) -> None:
        await conn.execute(f"INSERT INTO {schema}.effects (event_id) VALUES ($1)", event.event_id)
        Path(marker).write_text(str(event.event_id))
        await asyncio.sleep(3600)  # killed here, before the transaction commits

    consumer = Consumer(
        pool=pool,
        redis=redis,
        schema=schema,
        group=group,
        streams=[stream],
        handler=handler,
        consumer_name="doomed",
    )
    await consumer.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))

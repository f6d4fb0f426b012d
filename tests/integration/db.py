"""A connection as one service's own role, with the codecs its pool uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from cortex.db import create_pool
from cortex.settings import Settings


@asynccontextmanager
async def service_conn(settings: Settings, schema: str) -> AsyncIterator[asyncpg.Connection]:
    pool = await create_pool(settings.service_database_url(schema), settings, schema=schema)
    try:
        async with pool.acquire() as conn:
            yield conn
    finally:
        await pool.close()

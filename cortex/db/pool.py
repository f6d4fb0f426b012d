"""asyncpg pools with JSON codecs; a pool is created once per replica, never per request."""

from __future__ import annotations

import logging

import asyncpg
import orjson

from cortex.settings import Settings

log = logging.getLogger("cortex.db")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, settings: Settings, *, schema: str | None = None) -> asyncpg.Pool:
    """A pool for `dsn`; with `schema`, unqualified names resolve in that service's schema.

    If Postgres is unreachable the pool is still created (empty): the replica starts, its
    readiness check reports the database, and connections are made once Postgres is back.
    """
    server_settings = {"application_name": f"cortex-{schema or 'admin'}"}
    if schema:
        server_settings["search_path"] = schema
    kwargs = dict(
        dsn=dsn,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout_s,
        init=_init_connection,
        server_settings=server_settings,
    )
    try:
        return await asyncpg.create_pool(min_size=settings.db_pool_min, **kwargs)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("postgres unreachable at start (%s); pool will connect lazily", exc)
        return await asyncpg.create_pool(min_size=0, **kwargs)

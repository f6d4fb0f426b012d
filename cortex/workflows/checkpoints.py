"""Where a workflow run's state lives between the visitor's messages: LangGraph's Postgres
checkpointer, in the `workflows` schema, logged in as the workflows role.

`langgraph-checkpoint-postgres` speaks psycopg 3, not asyncpg; that is accepted for the
checkpointer alone (every other query of the service goes through its asyncpg pool). Its tables are
created by `cortex migrate` (cortex/db/migrate.py runs the saver's versioned setup as this role):
never at runtime, so a replica starts without DDL rights and never races another one's setup.

The connections follow the library's requirements: autocommit (each checkpoint write commits on
its own), no server-side prepared statements (`prepare_threshold=0`, safe behind a pooler) and
dict rows. Checkpoints are read back with the strict msgpack allowlist: the graph's state holds only
plain values (strings, numbers, lists, dicts), so nothing in the table can make the reader build
an arbitrary object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from cortex.settings import Settings

log = logging.getLogger("cortex.workflows")

SCHEMA = "workflows"
#: The tables `cortex migrate` creates for the checkpointer (a test checks they exist and are the role's).
TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations")


@dataclass
class Checkpoints:
    """The checkpointer and the psycopg pool under it (closed together)."""

    saver: AsyncPostgresSaver
    pool: AsyncConnectionPool[AsyncConnection[DictRow]]

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> None:
        """Raises when the checkpoint tables cannot be read (for readiness checks)."""
        async with self.pool.connection(timeout=5) as conn:
            await conn.execute("SELECT 1 FROM checkpoint_migrations LIMIT 1")


async def open_checkpoints(settings: Settings, *, max_size: int | None = None) -> Checkpoints:
    """A checkpointer over a new pool logged in as the workflows role (search_path=workflows).
    The pool opens without waiting: a replica whose database is down starts, and connects once
    the database is back (its readiness check says so meanwhile)."""
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        settings.service_database_url(SCHEMA),
        min_size=1,
        max_size=max_size or settings.workflows_checkpoint_pool_max,
        open=False,
        name="cortex-workflows-checkpoints",
        timeout=settings.db_command_timeout_s,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "options": f"-c search_path={SCHEMA}",
            "application_name": "cortex-workflows-checkpoints",
        },
    )
    await pool.open(wait=False)
    saver = AsyncPostgresSaver(pool, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    return Checkpoints(saver=saver, pool=pool)

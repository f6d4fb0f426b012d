"""Sources (files, collections, crawls, FAQ lists and imports) and the ingestion jobs run for them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

SOURCE_COLUMNS = (
    "id, workspace_id, bot_id, kind, name, status, error_code, error, content_type, size_bytes, sha256, object_key, "
    "origin_url, config, progress, row_errors, document_count, chunk_count, job_id, schedule_s, next_run_at, "
    "indexed_at, created_at, updated_at"
)


async def create_source(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    source_id: uuid.UUID,
    kind: str,
    name: str,
    fields: dict[str, Any] | None = None,
) -> asyncpg.Record:
    fields = fields or {}
    names = list(fields)
    extra_columns = "".join(f", {name}" for name in names)
    extra_values = "".join(f", ${i + 6}" for i in range(len(names)))
    return await conn.fetchrow(
        f"INSERT INTO sources (id, workspace_id, bot_id, kind, name{extra_columns}) "
        f"VALUES ($1, $2, $3, $4, $5{extra_values}) RETURNING {SOURCE_COLUMNS}",
        source_id,
        workspace_id,
        bot_id,
        kind,
        name,
        *fields.values(),
    )


async def get_source(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1 AND workspace_id = $2{lock}", source_id, workspace_id
    )


async def get_source_unscoped(conn: asyncpg.Connection, *, source_id: uuid.UUID) -> asyncpg.Record | None:
    """For ingestion jobs, which are handed a source id by the service that checked its tenant."""
    return await conn.fetchrow(f"SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1", source_id)


async def list_sources(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID | None, kinds: Sequence[str]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) "
        "AND kind = ANY($3) ORDER BY created_at DESC",
        workspace_id,
        bot_id,
        list(kinds),
    )


async def update_source(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(fields))
    return await conn.fetchrow(
        f"UPDATE sources SET {assignments}, updated_at = now() WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {SOURCE_COLUMNS}",
        source_id,
        workspace_id,
        *fields.values(),
    )


async def merge_progress(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID, progress: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE sources SET progress = progress || $3::jsonb, updated_at = now() WHERE id = $1 AND workspace_id = $2",
        source_id,
        workspace_id,
        progress,
    )


async def delete_source(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID) -> bool:
    result = await conn.execute("DELETE FROM sources WHERE id = $1 AND workspace_id = $2", source_id, workspace_id)
    return result != "DELETE 0"


async def faq_source(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> asyncpg.Record:
    """The bot's FAQ source, created on first use."""
    row = await conn.fetchrow(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE bot_id = $1 AND workspace_id = $2 AND kind = 'faq'",
        bot_id,
        workspace_id,
    )
    if row is not None:
        return row
    await conn.execute(
        "INSERT INTO sources (id, workspace_id, bot_id, kind, name, status) "
        "VALUES ($1, $2, $3, 'faq', 'FAQs', 'ready') ON CONFLICT DO NOTHING",
        uuid.uuid4(),
        workspace_id,
        bot_id,
    )
    return await conn.fetchrow(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE bot_id = $1 AND workspace_id = $2 AND kind = 'faq'",
        bot_id,
        workspace_id,
    )


async def sources_in_flight(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Sources a Ray job is (or should be) working on, across tenants: for the job watcher."""
    return await conn.fetch(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE status IN ('queued', 'running') AND job_id IS NOT NULL"
    )


async def claim_due_crawls(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """Scheduled crawls whose time has come; the caller's transaction holds them until it re-submits."""
    return await conn.fetch(
        f"SELECT {SOURCE_COLUMNS} FROM sources WHERE kind = 'crawl' AND next_run_at <= now() "
        "AND status IN ('ready', 'failed') ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


# -- ingestion jobs --------------------------------------------------------------------------


async def add_job(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID, job_id: str, entrypoint: str
) -> None:
    await conn.execute(
        "INSERT INTO ingest_jobs (id, workspace_id, source_id, entrypoint) VALUES ($1, $2, $3, $4)",
        job_id,
        workspace_id,
        source_id,
        entrypoint,
    )


async def finish_job(conn: asyncpg.Connection, *, job_id: str, status: str, message: str | None) -> None:
    await conn.execute(
        "UPDATE ingest_jobs SET status = $2, message = $3, finished_at = now() WHERE id = $1",
        job_id,
        status,
        message,
    )


async def list_jobs(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, entrypoint, status, message, submitted_at, finished_at FROM ingest_jobs "
        "WHERE source_id = $1 AND workspace_id = $2 ORDER BY submitted_at",
        source_id,
        workspace_id,
    )

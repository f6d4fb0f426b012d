"""The crawl frontier: every URL a crawl met, its depth and what fetching it gave."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg


async def add_pages(conn: asyncpg.Connection, *, source_id: uuid.UUID, pages: Sequence[tuple[str, int]]) -> int:
    rows = await conn.fetch(
        "INSERT INTO crawl_pages (source_id, url, depth) SELECT $1, p.url, p.depth "
        "FROM unnest($2::text[], $3::int[]) AS p(url, depth) ON CONFLICT DO NOTHING RETURNING url",
        source_id,
        [url for url, _ in pages],
        [depth for _, depth in pages],
    )
    return len(rows)


async def queued_pages(conn: asyncpg.Connection, *, source_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT url, depth FROM crawl_pages WHERE source_id = $1 AND status = 'queued' "
        "ORDER BY discovered_at, depth, url LIMIT $2",
        source_id,
        limit,
    )


async def record_page(conn: asyncpg.Connection, *, source_id: uuid.UUID, url: str, fields: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(fields))
    await conn.execute(
        f"UPDATE crawl_pages SET {assignments}, fetched_at = now() WHERE source_id = $1 AND url = $2",
        source_id,
        url,
        *fields.values(),
    )


async def get_page(conn: asyncpg.Connection, *, source_id: uuid.UUID, url: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT url, depth, status, http_status, error, title, content_hash, etag, last_modified, fetched_at "
        "FROM crawl_pages WHERE source_id = $1 AND url = $2",
        source_id,
        url,
    )


async def page_with_content(conn: asyncpg.Connection, *, source_id: uuid.UUID, content_hash: str) -> str | None:
    return await conn.fetchval(
        "SELECT url FROM crawl_pages WHERE source_id = $1 AND content_hash = $2 "
        "AND status IN ('fetched', 'not_modified') LIMIT 1",
        source_id,
        content_hash,
    )


async def page_counts(conn: asyncpg.Connection, *, source_id: uuid.UUID) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM crawl_pages WHERE source_id = $1 GROUP BY status", source_id
    )
    counts = {row["status"]: row["n"] for row in rows}
    counts["found"] = sum(counts.values())
    return counts


async def unavailable_pages(conn: asyncpg.Connection, *, source_id: uuid.UUID) -> list[str]:
    """Pages this crawl found failed or skipped: their chunks (from an earlier crawl) must go."""
    rows = await conn.fetch(
        "SELECT url FROM crawl_pages WHERE source_id = $1 AND status IN ('failed', 'skipped')", source_id
    )
    return [row["url"] for row in rows]


async def requeue_pages(conn: asyncpg.Connection, *, source_id: uuid.UUID) -> None:
    """A new crawl run visits every known page again (conditional requests keep that cheap)."""
    await conn.execute("UPDATE crawl_pages SET status = 'queued' WHERE source_id = $1", source_id)


async def list_pages(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT p.url, p.depth, p.status, p.http_status, p.error, p.title, p.fetched_at FROM crawl_pages p "
        "JOIN sources s ON s.id = p.source_id WHERE p.source_id = $1 AND s.workspace_id = $2 "
        "AND ($3::text IS NULL OR p.status = $3) ORDER BY p.discovered_at, p.url LIMIT $4 OFFSET $5",
        source_id,
        workspace_id,
        status,
        limit,
        offset,
    )

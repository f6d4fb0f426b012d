"""SQL of the knowledge service. Every tenant-owned query takes `workspace_id` as a keyword."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

# BM25 parameters of Anserini/Pyserini's BEIR baselines (k1 = 0.9, b = 0.4): short passages,
# where length normalisation should be mild.
BM25_K1 = 0.9
BM25_B = 0.4

# -- bots ------------------------------------------------------------------------------------


async def add_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO bots (id, workspace_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", bot_id, workspace_id
    )


async def bot_exists(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id))


async def object_keys_of_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT object_key FROM sources WHERE bot_id = $1 AND workspace_id = $2 AND object_key IS NOT NULL",
        bot_id,
        workspace_id,
    )
    return [row["object_key"] for row in rows]


async def remove_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """Everything the bot was taught goes with it (chunks and pages cascade from sources)."""
    await conn.execute("DELETE FROM sources WHERE bot_id = $1 AND workspace_id = $2", bot_id, workspace_id)
    await conn.execute("DELETE FROM faqs WHERE bot_id = $1 AND workspace_id = $2", bot_id, workspace_id)
    await conn.execute("DELETE FROM bot_index_stats WHERE bot_id = $1", bot_id)
    await conn.execute("DELETE FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id)


# -- sources ---------------------------------------------------------------------------------

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


# -- chunks and the BM25 index ------------------------------------------------------------------


async def write_chunks(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    source_id: uuid.UUID,
    document_key: str,
    chunks: Sequence[dict[str, Any]],
) -> tuple[int, list[str]]:
    """Make a document's chunks exactly `chunks` ({id, ord, title, url, text}); returns (added, removed ids).

    Chunk ids are content hashes, so an unchanged chunk is left alone and a re-run adds nothing.
    Call inside a transaction: the chunks, their terms and the bot's statistics change together.
    """
    keep = [chunk["id"] for chunk in chunks]
    removed = await conn.fetch(
        "DELETE FROM chunks WHERE bot_id = $1 AND source_id = $2 AND document_key = $3 AND NOT (id = ANY($4)) "
        "AND workspace_id = $5 RETURNING id, length",
        bot_id,
        source_id,
        document_key,
        keep,
        workspace_id,
    )
    added = await conn.fetch(
        """
        INSERT INTO chunks (bot_id, id, workspace_id, source_id, document_key, ord, title, url, text, length)
        SELECT $1, c.id, $2, $3, $4, c.ord, c.title, c.url, c.text,
               (SELECT coalesce(sum(array_length(t.positions, 1)), 0)
                  FROM unnest(to_tsvector('english', c.title || ' ' || c.text)) t)
          FROM unnest($5::text[], $6::int[], $7::text[], $8::text[], $9::text[]) AS c(id, ord, title, url, text)
        ON CONFLICT (bot_id, id) DO NOTHING
        RETURNING id, length
        """,
        bot_id,
        workspace_id,
        source_id,
        document_key,
        keep,
        [chunk["ord"] for chunk in chunks],
        [chunk.get("title") or "" for chunk in chunks],
        [chunk.get("url") for chunk in chunks],
        [chunk["text"] for chunk in chunks],
    )
    if added:
        await conn.execute(
            """
            INSERT INTO chunk_terms (bot_id, term, chunk_id, tf, dl)
            SELECT c.bot_id, t.lexeme, c.id, array_length(t.positions, 1), c.length
              FROM chunks c, unnest(to_tsvector('english', c.title || ' ' || c.text)) t
             WHERE c.bot_id = $1 AND c.id = ANY($2)
            """,
            bot_id,
            [row["id"] for row in added],
        )
    await _adjust_stats(
        conn,
        bot_id=bot_id,
        chunks=len(added) - len(removed),
        length=sum(row["length"] for row in added) - sum(row["length"] for row in removed),
    )
    return len(added), [row["id"] for row in removed]


async def delete_chunks(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    source_id: uuid.UUID,
    document_keys: Sequence[str] | None = None,
) -> list[str]:
    """Remove a source's chunks (or only those of some documents); returns their ids."""
    removed = await conn.fetch(
        "DELETE FROM chunks WHERE bot_id = $1 AND source_id = $2 AND workspace_id = $3 "
        "AND ($4::text[] IS NULL OR document_key = ANY($4)) RETURNING id, length",
        bot_id,
        source_id,
        workspace_id,
        list(document_keys) if document_keys is not None else None,
    )
    await _adjust_stats(conn, bot_id=bot_id, chunks=-len(removed), length=-sum(row["length"] for row in removed))
    return [row["id"] for row in removed]


async def _adjust_stats(conn: asyncpg.Connection, *, bot_id: uuid.UUID, chunks: int, length: int) -> None:
    if chunks == 0 and length == 0:
        return
    await conn.execute(
        "INSERT INTO bot_index_stats (bot_id, chunks, total_length) VALUES ($1, $2, $3) "
        "ON CONFLICT (bot_id) DO UPDATE SET chunks = bot_index_stats.chunks + $2, "
        "total_length = bot_index_stats.total_length + $3",
        bot_id,
        chunks,
        length,
    )


async def count_chunks(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT count(*) AS chunks, count(DISTINCT document_key) AS documents FROM chunks "
        "WHERE source_id = $1 AND workspace_id = $2",
        source_id,
        workspace_id,
    )
    return {"chunks": row["chunks"], "documents": row["documents"]}


async def document_keys(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT document_key FROM chunks WHERE source_id = $1 AND workspace_id = $2", source_id, workspace_id
    )
    return [row["document_key"] for row in rows]


async def lexical_search(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    query: str,
    k: int,
    time_limit_s: float | None = None,
) -> list[asyncpg.Record]:
    """BM25 over the bot's chunks (Okapi, with Lucene's non-negative idf); best first."""
    return await conn.fetch(
        f"""
        WITH stats AS (
            SELECT chunks::float8 AS n, total_length::float8 / greatest(chunks, 1) AS avgdl
              FROM bot_index_stats WHERE bot_id = $1
        ), query AS (
            SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector('english', $2))
        ), df AS (
            SELECT t.term, count(*)::float8 AS df
              FROM chunk_terms t JOIN query q ON q.term = t.term
             WHERE t.bot_id = $1 GROUP BY t.term
        ), scored AS (
            SELECT t.chunk_id,
                   sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * t.tf * {BM25_K1 + 1}
                       / (t.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * t.dl / s.avgdl))) AS score
              FROM chunk_terms t JOIN df ON df.term = t.term CROSS JOIN stats s
             WHERE t.bot_id = $1
             GROUP BY t.chunk_id ORDER BY score DESC LIMIT $4
        )
        SELECT c.id, c.source_id, c.document_key, c.title, c.url, c.text, scored.score
          FROM scored JOIN chunks c ON c.bot_id = $1 AND c.id = scored.chunk_id
         WHERE c.workspace_id = $3
         ORDER BY scored.score DESC
        """,
        bot_id,
        query,
        workspace_id,
        k,
        timeout=time_limit_s,
    )


async def chunks_by_ids(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, chunk_ids: Sequence[str]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, source_id, document_key, title, url, text FROM chunks "
        "WHERE bot_id = $1 AND id = ANY($2) AND workspace_id = $3",
        bot_id,
        list(chunk_ids),
        workspace_id,
    )


# -- FAQs ----------------------------------------------------------------------------------------

FAQ_COLUMNS = "id, bot_id, question, answer, tags, enabled, created_at, updated_at"


async def create_faqs(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> list[asyncpg.Record]:
    """Insert FAQs; a question the bot already has (case and spacing ignored) is updated instead."""
    return await conn.fetch(
        f"""
        INSERT INTO faqs (id, workspace_id, bot_id, question, answer, tags, enabled)
        SELECT f.id, $1, $2, f.question, f.answer, ARRAY(SELECT jsonb_array_elements_text(f.tags)), f.enabled
          FROM jsonb_to_recordset($3::jsonb) AS f(id uuid, question text, answer text, tags jsonb, enabled bool)
        ON CONFLICT (bot_id, lower(regexp_replace(btrim(question), '\\s+', ' ', 'g')))
        DO UPDATE SET answer = EXCLUDED.answer, tags = EXCLUDED.tags, enabled = EXCLUDED.enabled, updated_at = now()
        RETURNING {FAQ_COLUMNS}
        """,
        workspace_id,
        bot_id,
        [
            {
                "id": str(uuid.uuid4()),
                "question": row["question"],
                "answer": row["answer"],
                "tags": list(row.get("tags") or []),
                "enabled": bool(row.get("enabled", True)),
            }
            for row in rows
        ],
    )


async def get_faq(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {FAQ_COLUMNS} FROM faqs WHERE id = $1 AND workspace_id = $2", faq_id, workspace_id
    )


async def list_faqs(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID | None,
    search: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {FAQ_COLUMNS} FROM faqs WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) "
        "AND ($3::text IS NULL OR question ILIKE '%' || $3 || '%' OR answer ILIKE '%' || $3 || '%') "
        "ORDER BY created_at, id LIMIT $4 OFFSET $5",
        workspace_id,
        bot_id,
        search,
        limit,
        offset,
    )


async def update_faq(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, faq_id: uuid.UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    if not changes:
        return await get_faq(conn, workspace_id=workspace_id, faq_id=faq_id)
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(changes))
    return await conn.fetchrow(
        f"UPDATE faqs SET {assignments}, updated_at = now() WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {FAQ_COLUMNS}",
        faq_id,
        workspace_id,
        *changes.values(),
    )


async def delete_faq(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "DELETE FROM faqs WHERE id = $1 AND workspace_id = $2 RETURNING id, bot_id", faq_id, workspace_id
    )


# -- crawl frontier --------------------------------------------------------------------------


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

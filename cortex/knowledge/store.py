"""SQL of the knowledge service. Every tenant-owned query takes `workspace_id` as a keyword."""

from __future__ import annotations

import math
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
    documents: Sequence[tuple[str, Sequence[dict[str, Any]]]],
) -> tuple[int, list[str]]:
    """Make each document's chunks exactly the given ones ({id, ord, title, url, text}), for
    (document key, chunks) pairs; returns (added, removed ids).

    Chunk ids are content hashes, so an unchanged chunk is left alone and a re-run adds nothing.
    Call inside a transaction: the chunks, their terms and the bot's statistics change together.
    """
    keys = [key for key, _ in documents]
    rows = [(key, chunk) for key, chunks in documents for chunk in chunks]
    keep = [chunk["id"] for _, chunk in rows]
    removed = await conn.fetch(
        "DELETE FROM chunks WHERE bot_id = $1 AND source_id = $2 AND document_key = ANY($3) AND NOT (id = ANY($4)) "
        "AND workspace_id = $5 RETURNING id, length",
        bot_id,
        source_id,
        keys,
        keep,
        workspace_id,
    )
    added = await conn.fetch(
        """
        INSERT INTO chunks (bot_id, id, workspace_id, source_id, document_key, ord, title, url, text, length)
        SELECT $1, c.id, $2, $3, c.document_key, c.ord, c.title, c.url, c.text,
               (SELECT coalesce(sum(array_length(t.positions, 1)), 0)
                  FROM unnest(to_tsvector('english', c.title || ' ' || c.text)) t)
          FROM unnest($4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::text[])
               AS c(id, document_key, ord, title, url, text)
        ON CONFLICT (bot_id, id) DO NOTHING
        RETURNING id, length
        """,
        bot_id,
        workspace_id,
        source_id,
        keep,
        [key for key, _ in rows],
        [chunk["ord"] for _, chunk in rows],
        [chunk.get("title") or "" for _, chunk in rows],
        [chunk.get("url") for _, chunk in rows],
        [chunk["text"] for _, chunk in rows],
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


async def existing_chunk_ids(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, chunk_ids: Sequence[str]
) -> set[str]:
    """Which of these chunks are indexed already (their vectors need not be computed again)."""
    rows = await conn.fetch(
        "SELECT id FROM chunks WHERE bot_id = $1 AND id = ANY($2) AND workspace_id = $3",
        bot_id,
        list(chunk_ids),
        workspace_id,
    )
    return {row["id"] for row in rows}


async def refresh_source_counts(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, source_id: uuid.UUID) -> None:
    """The source's chunk and document counts as its chunks are now, and when it was last indexed."""
    await conn.execute(
        "UPDATE sources s SET chunk_count = c.chunks, document_count = c.documents, indexed_at = now(), "
        "updated_at = now() FROM (SELECT count(*) AS chunks, count(DISTINCT document_key) AS documents "
        "FROM chunks WHERE source_id = $1 AND workspace_id = $2) c WHERE s.id = $1 AND s.workspace_id = $2",
        source_id,
        workspace_id,
    )


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


async def term_rarity(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, terms: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """Each term's BM25 idf in the bot's chunks, and the terms no chunk has (unknown to this bot:
    they get the highest idf); ({}, []) for a bot with no chunks. Terms are Porter2 stems, as the
    index keeps them."""
    rows = await conn.fetch(
        """
        SELECT q.term, s.chunks::float8 AS n, count(t.chunk_id)::float8 AS df
          FROM bots b
          JOIN bot_index_stats s ON s.bot_id = b.id
          CROSS JOIN unnest($3::text[]) AS q(term)
          LEFT JOIN chunk_terms t ON t.bot_id = b.id AND t.term = q.term
         WHERE b.id = $1 AND b.workspace_id = $2 AND s.chunks > 0
         GROUP BY q.term, s.chunks
        """,
        bot_id,
        workspace_id,
        list(terms),
    )
    idf = {row["term"]: math.log(1 + (row["n"] - row["df"] + 0.5) / (row["df"] + 0.5)) for row in rows}
    return idf, sorted(row["term"] for row in rows if not row["df"])


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

FAQ_COLUMNS = "id, bot_id, question, answer, tags, phrasings, enabled, version, created_at, updated_at"
# The identity of a question: the unique index faqs_question is on this expression.
_QUESTION_KEY = "lower(regexp_replace(btrim({}), '\\s+', ' ', 'g'))"


async def next_faq_version(conn: asyncpg.Connection) -> int:
    """A version no other FAQ write has (one sequence for all: concurrent writers never share one)."""
    return int(await conn.fetchval("SELECT nextval('faq_versions')"))


async def faq_ids_by_question(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, questions: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The bot's FAQs that ask these questions (case and spacing ignored): {question as given: FAQ id}."""
    rows = await conn.fetch(
        f"""
        SELECT q.question, f.id FROM unnest($3::text[]) AS q(question)
          JOIN faqs f ON f.bot_id = $1 AND f.workspace_id = $2
           AND {_QUESTION_KEY.format("f.question")} = {_QUESTION_KEY.format("q.question")}
        """,
        bot_id,
        workspace_id,
        list(questions),
    )
    return {row["question"]: row["id"] for row in rows}


async def faqs_by_ids(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    faq_ids: Sequence[uuid.UUID],
    for_update: bool = False,
) -> list[asyncpg.Record]:
    """These FAQs as they are; `for_update` locks them until the transaction ends."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetch(
        f"SELECT {FAQ_COLUMNS} FROM faqs WHERE bot_id = $1 AND workspace_id = $2 AND id = ANY($3) ORDER BY id{lock}",
        bot_id,
        workspace_id,
        list(faq_ids),
    )


def _faq_records(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(row["id"]),
            "question": row["question"],
            "answer": row["answer"],
            "tags": list(row.get("tags") or []),
            "phrasings": list(row.get("phrasings") or []),
            "enabled": bool(row.get("enabled", True)),
            "expected_version": row.get("expected_version"),
        }
        for row in rows
    ]


_FAQ_RECORDSET = (
    "jsonb_to_recordset($4::jsonb) AS f(id uuid, question text, answer text, tags jsonb, phrasings jsonb, "
    "enabled bool, expected_version bigint)"
)


async def upsert_faqs(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    version: int,
    rows: Sequence[dict[str, Any]],
) -> list[asyncpg.Record]:
    """Insert FAQs ({id, question, answer, tags, phrasings, enabled}) at `version`; a question the
    bot already has (case and spacing ignored) is replaced instead, keeping its id."""
    return await conn.fetch(
        f"""
        INSERT INTO faqs (id, workspace_id, bot_id, question, answer, tags, phrasings, enabled, version)
        SELECT f.id, $1, $2, f.question, f.answer, ARRAY(SELECT jsonb_array_elements_text(f.tags)),
               ARRAY(SELECT jsonb_array_elements_text(f.phrasings)), f.enabled, $3
          FROM {_FAQ_RECORDSET}
        ON CONFLICT (bot_id, {_QUESTION_KEY.format("question")})
        DO UPDATE SET question = EXCLUDED.question, answer = EXCLUDED.answer, tags = EXCLUDED.tags,
                      phrasings = EXCLUDED.phrasings, enabled = EXCLUDED.enabled, version = EXCLUDED.version,
                      updated_at = now()
        RETURNING {FAQ_COLUMNS}
        """,
        workspace_id,
        bot_id,
        version,
        _faq_records(rows),
    )


async def replace_faqs(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    version: int,
    rows: Sequence[dict[str, Any]],
) -> list[asyncpg.Record]:
    """Replace FAQs by id ({id, question, …, expected_version}) with their content at `version`; an FAQ
    whose version is no longer `expected_version` (changed or deleted meanwhile) is left alone."""
    return await conn.fetch(
        f"""
        UPDATE faqs SET question = f.question, answer = f.answer,
               tags = ARRAY(SELECT jsonb_array_elements_text(f.tags)),
               phrasings = ARRAY(SELECT jsonb_array_elements_text(f.phrasings)),
               enabled = f.enabled, version = $3, updated_at = now()
          FROM {_FAQ_RECORDSET}
         WHERE faqs.id = f.id AND faqs.bot_id = $2 AND faqs.workspace_id = $1 AND faqs.version = f.expected_version
        RETURNING {", ".join(f"faqs.{column.strip()}" for column in FAQ_COLUMNS.split(","))}
        """,
        workspace_id,
        bot_id,
        version,
        _faq_records(rows),
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
        "AND ($3::text IS NULL OR question ILIKE '%' || $3 || '%' OR answer ILIKE '%' || $3 || '%' "
        "OR array_to_string(phrasings, ' ') ILIKE '%' || $3 || '%') "
        "ORDER BY created_at, id LIMIT $4 OFFSET $5",
        workspace_id,
        bot_id,
        search,
        limit,
        offset,
    )


async def delete_faq(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"DELETE FROM faqs WHERE id = $1 AND workspace_id = $2 RETURNING {FAQ_COLUMNS}", faq_id, workspace_id
    )


async def faq_candidates(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    faq_ids: Sequence[uuid.UUID],
    query: str,
) -> list[asyncpg.Record]:
    """The bot's enabled FAQs among `faq_ids`, each with `lexical`: the idf-weighted share of the
    query's terms that its question or phrasings contain (0..1).

    That is BM25 with k1 = 0 and b = 0 (a term counts once, length ignored: a question and its
    phrasings are short and repeat their terms by design), divided by the score an FAQ containing
    every query term would get; idf is Lucene's, over the bot's enabled FAQs. Normalised so, 0.6
    means the same for every question, which a threshold calibrated on data needs: divided by the
    best candidate's score instead, the best would score 1 however few words it shared, and
    rank/(rank+k) would move with the question's length and an arbitrary k.
    Cost: one pass over the bot's FAQs per query term (~15-25 ms at 10,000 FAQs, <1 ms at 100).
    """
    return await conn.fetch(
        f"""
        WITH query AS (
            SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector('english', $4))
        ), n AS (
            SELECT count(*)::float8 AS n FROM faqs WHERE bot_id = $1 AND workspace_id = $2 AND enabled
        ), weights AS (
            SELECT q.term, ln(1 + (n.n - d.df + 0.5) / (d.df + 0.5)) AS idf
              FROM query q CROSS JOIN n CROSS JOIN LATERAL (
                   SELECT count(*)::float8 AS df FROM faqs f
                    WHERE f.bot_id = $1 AND f.workspace_id = $2 AND f.enabled AND f.terms @> ARRAY[q.term]
              ) d
        )
        SELECT {FAQ_COLUMNS},
               coalesce((SELECT sum(w.idf) FROM weights w WHERE faqs.terms @> ARRAY[w.term])
                        / nullif((SELECT sum(idf) FROM weights), 0), 0)::float8 AS lexical
          FROM faqs WHERE bot_id = $1 AND workspace_id = $2 AND id = ANY($3) AND enabled
        """,
        bot_id,
        workspace_id,
        list(faq_ids),
        query,
    )


async def unversioned_faqs(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """FAQs written before versions, across tenants: for the service's one-time upgrade of their vectors."""
    return await conn.fetch(
        f"SELECT workspace_id, {FAQ_COLUMNS} FROM faqs WHERE version = 0 ORDER BY bot_id, id LIMIT $1", limit
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

"""Chunks of a bot's sources and the BM25 index over them (terms and the bot's statistics)."""

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

"""A bot's FAQs: versioned writes, lookups by question, and the candidates a question is matched against."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

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

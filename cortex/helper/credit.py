"""Crediting outcomes to the guidance that preceded them: the helper's learning, in SQL.

The helper keeps its own view of each conversation (`helper.conversations`, from core's events):
its visitor, the outcome labels known so far, and `credited_outcomes`, what its statistics were
last moved by (NULL: nothing yet). Bot messages that carried guidance are `applications`.

When a conversation closes, every distinct (pattern, situation) applied in it is credited: its
`pattern_stats` row moves by the difference between the counts of the new outcomes and of the
credited ones (`uses` grows by one only on the first credit), and the new outcomes become the
credited ones. So a redelivered or repeated close moves nothing, a reopened conversation closed
again with another outcome (or a closed one a member relabels) moves the statistics by the change,
and a label whose event arrives after the close (a lead form, a booking made later) moves them by
that label's difference. An
application that arrives after its conversation was credited (events of different families are
not ordered) is credited at once, unless its (pattern, situation) was already credited there.

Every function runs in the bus consumer's transaction. Each locks the conversation's row first
(an upsert), so a close and a late application of the same conversation, handled concurrently by
two replicas, are serialised: one of them always sees the other's work.

Success per goal (what the Guide's bandit reads, `advisor.SUCCESS_COLUMN`): resolution = the
primary outcome is resolved, lead_captured or booked; lead = lead_captured among the outcomes;
booking = booked among them; an escalation is counted apart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cortex.contracts.events import OUTCOME_PRIORITY, Outcome

log = logging.getLogger("cortex.helper")

RESOLVING: frozenset[Outcome] = frozenset({"resolved", "lead_captured", "booked"})
COUNTED = ("resolutions", "leads", "bookings", "escalations")


def normalise(labels: Iterable[str]) -> list[Outcome]:
    """Known labels in priority order, without repeats; `abandoned` only when nothing else is there."""
    present = set(labels)
    ordered = [label for label in OUTCOME_PRIORITY if label in present]
    if len(ordered) > 1 and "abandoned" in ordered:
        ordered.remove("abandoned")
    return ordered


def primary(outcomes: Collection[str]) -> Outcome | None:
    """The conversation's outcome: the first of OUTCOME_PRIORITY among its labels."""
    return next((label for label in OUTCOME_PRIORITY if label in outcomes), None)


def counts(outcomes: Collection[str] | None) -> dict[str, int]:
    """What a conversation with these outcomes adds to each statistic (None: not credited, nothing)."""
    if outcomes is None:
        return {"uses": 0, **dict.fromkeys(COUNTED, 0)}
    return {
        "uses": 1,
        "resolutions": int(primary(outcomes) in RESOLVING),
        "leads": int("lead_captured" in outcomes),
        "bookings": int("booked" in outcomes),
        "escalations": int("escalated" in outcomes),
    }


def difference(credited: Collection[str] | None, outcomes: Collection[str]) -> dict[str, int]:
    """How the statistics move when a conversation credited with `credited` now has `outcomes`."""
    before, after = counts(credited), counts(outcomes)
    return {column: after[column] - before[column] for column in after}


def rating_difference(old: int | None, new: int | None) -> dict[str, int]:
    """thumbs_up / thumbs_down moves when a message's rating goes from `old` to `new` (None: none)."""
    return {
        "thumbs_up": int(new == 1) - int(old == 1),
        "thumbs_down": int(new == -1) - int(old == -1),
    }


@dataclass(frozen=True)
class Conversation:
    conversation_id: uuid.UUID
    workspace_id: uuid.UUID
    outcomes: list[str]
    credited_outcomes: list[str] | None


async def _conversation(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None = None,
    started_at: datetime | None = None,
) -> Conversation | None:
    """The helper's row of the conversation, made if this is the first event about it, and locked
    for the rest of the transaction. None: the conversation was erased (its events are ignored),
    or it belongs to another workspace."""
    if await conn.fetchval("SELECT 1 FROM erased_conversations WHERE conversation_id = $1", conversation_id):
        return None
    row = await conn.fetchrow(
        """
        INSERT INTO conversations (conversation_id, workspace_id, bot_id, visitor_id, started_at)
        VALUES ($1, $2, $3, $4, coalesce($5, now()))
        ON CONFLICT (conversation_id) DO UPDATE
           SET visitor_id = coalesce(conversations.visitor_id, EXCLUDED.visitor_id),
               started_at = least(conversations.started_at, EXCLUDED.started_at)
        RETURNING conversation_id, workspace_id, outcomes, credited_outcomes
        """,
        conversation_id,
        workspace_id,
        bot_id,
        visitor_id,
        started_at,
    )
    if row["workspace_id"] != workspace_id:
        log.warning("helper: an event of workspace %s names another's conversation %s", workspace_id, conversation_id)
        return None
    return Conversation(
        conversation_id=row["conversation_id"],
        workspace_id=row["workspace_id"],
        outcomes=list(row["outcomes"]),
        credited_outcomes=list(row["credited_outcomes"]) if row["credited_outcomes"] is not None else None,
    )


async def _move(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    pattern_id: uuid.UUID,
    situation: str,
    changes: Mapping[str, int],
) -> None:
    """Add `changes` to the pattern's statistics in the situation (the row made on first credit).
    A pattern deleted meanwhile, or another workspace's, has no statistics to move."""
    if not any(changes.values()):
        return
    columns = sorted(changes)
    names = ", ".join(columns)
    values = ", ".join(f"${index}" for index in range(4, 4 + len(columns)))
    updates = ", ".join(f"{column} = pattern_stats.{column} + EXCLUDED.{column}" for column in columns)
    await conn.execute(
        f"""
        INSERT INTO pattern_stats (workspace_id, pattern_id, situation, {names})
        SELECT $1, $2, $3, {values}
         WHERE EXISTS (SELECT 1 FROM patterns WHERE id = $2 AND workspace_id = $1)
        ON CONFLICT (pattern_id, situation) DO UPDATE SET {updates}, updated_at = now()
        """,
        workspace_id,
        pattern_id,
        situation,
        *[changes[column] for column in columns],
    )


async def _applied_pairs(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The distinct (pattern, situation) pairs applied in the conversation, in a fixed order (so two
    transactions moving several rows lock them in the same order)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT pattern_id, coalesce(situation, '') AS situation FROM applications
         WHERE conversation_id = $1 AND pattern_id IS NOT NULL
         ORDER BY pattern_id, situation
        """,
        conversation_id,
    )
    return [(row["pattern_id"], row["situation"]) for row in rows]


async def _recredit(conn: asyncpg.Connection, conversation: Conversation, outcomes: list[Outcome]) -> int:
    """Move every applied pair by the difference to `outcomes` and store them as credited; how many pairs moved."""
    changes = difference(conversation.credited_outcomes, outcomes)
    pairs = await _applied_pairs(conn, conversation.conversation_id)
    for pattern_id, situation in pairs:
        await _move(
            conn, workspace_id=conversation.workspace_id, pattern_id=pattern_id, situation=situation, changes=changes
        )
    await conn.execute(
        "UPDATE conversations SET credited_outcomes = $2 WHERE conversation_id = $1",
        conversation.conversation_id,
        outcomes,
    )
    return len(pairs) if any(changes.values()) else 0


async def conversation_started(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    started_at: datetime | None = None,
) -> None:
    """The conversation and its visitor (the unit of an experiment, and whom an erasure names)."""
    await _conversation(
        conn,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        bot_id=bot_id,
        visitor_id=visitor_id,
        started_at=started_at,
    )


async def guidance_applied(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    bot_id: uuid.UUID,
    pattern_id: uuid.UUID | None,
    experiment_id: uuid.UUID | None,
    arm: str | None,
    situation: str | None,
    created_at: datetime | None = None,
) -> bool:
    """A bot message carried guidance (a pattern, an experiment arm, or both): recorded once. In a
    conversation already credited, a (pattern, situation) new to it is credited at once with the
    conversation's credited outcomes. False when there was nothing to record (or already recorded)."""
    if pattern_id is None and experiment_id is None:
        return False
    conversation = await _conversation(conn, workspace_id=workspace_id, conversation_id=conversation_id, bot_id=bot_id)
    if conversation is None:
        return False
    situation = situation or ""
    credited_before = None
    if pattern_id is not None and conversation.credited_outcomes is not None:
        credited_before = await conn.fetchval(
            """
            SELECT 1 FROM applications
             WHERE conversation_id = $1 AND pattern_id = $2 AND coalesce(situation, '') = $3 LIMIT 1
            """,
            conversation_id,
            pattern_id,
            situation,
        )
    inserted = await conn.fetchval(
        """
        INSERT INTO applications (message_id, workspace_id, conversation_id, bot_id, pattern_id, experiment_id,
                                  arm, situation, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
        ON CONFLICT (message_id) DO NOTHING
        RETURNING true
        """,
        message_id,
        workspace_id,
        conversation_id,
        bot_id,
        pattern_id,
        experiment_id,
        arm,
        situation or None,
        created_at,
    )
    if not inserted:
        return False
    if pattern_id is not None and conversation.credited_outcomes is not None and not credited_before:
        await _move(
            conn,
            workspace_id=workspace_id,
            pattern_id=pattern_id,
            situation=situation,
            changes=difference(None, conversation.credited_outcomes),
        )
    return True


async def message_rated(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, message_id: uuid.UUID, rating: int | None
) -> bool:
    """A rating on a bot message that carried a pattern: its thumbs move by the change (a rating
    changed or taken back undoes the old one). False when the message carried no guidance."""
    row = await conn.fetchrow(
        """
        SELECT a.rating AS old, a.pattern_id, coalesce(a.situation, '') AS situation
          FROM applications a WHERE a.message_id = $1 AND a.workspace_id = $2 FOR UPDATE
        """,
        message_id,
        workspace_id,
    )
    if row is None:
        return False
    await conn.execute("UPDATE applications SET rating = $2 WHERE message_id = $1", message_id, rating)
    if row["pattern_id"] is not None:
        await _move(
            conn,
            workspace_id=workspace_id,
            pattern_id=row["pattern_id"],
            situation=row["situation"],
            changes=rating_difference(row["old"], rating),
        )
    return True


async def outcome_labelled(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    label: Outcome,
) -> int:
    """A lead captured, a booking made, a hand-off to a person: the label joins the conversation's.
    A conversation already credited is credited again by the difference; returns the pairs moved."""
    conversation = await _conversation(conn, workspace_id=workspace_id, conversation_id=conversation_id, bot_id=bot_id)
    if conversation is None:
        return 0
    outcomes = normalise([*conversation.outcomes, label])
    await conn.execute(
        """
        UPDATE conversations SET outcomes = $2,
               outcome = CASE WHEN closed_at IS NULL THEN outcome ELSE $3 END
         WHERE conversation_id = $1
        """,
        conversation_id,
        outcomes,
        primary(outcomes),
    )
    if conversation.credited_outcomes is None:
        return 0
    return await _recredit(conn, conversation, normalise([*conversation.credited_outcomes, label]))


async def conversation_closed(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    outcomes: Iterable[str],
    closed_at: datetime,
) -> int:
    """The conversation ended with these outcomes (core's labels are the truth: they include the
    lead, booking or hand-off core saw before closing, and a member may relabel a closed
    conversation, which core announces as another close): every applied (pattern, situation) is
    credited by the difference to what was credited before. Returns the pairs moved."""
    conversation = await _conversation(
        conn, workspace_id=workspace_id, conversation_id=conversation_id, bot_id=bot_id, visitor_id=visitor_id
    )
    if conversation is None:
        return 0
    final = normalise(outcomes)
    await conn.execute(
        "UPDATE conversations SET outcomes = $2, outcome = $3, closed_at = $4 WHERE conversation_id = $1",
        conversation_id,
        final,
        primary(final),
        closed_at,
    )
    return await _recredit(conn, conversation, final)


async def forget_conversations(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_ids: Collection[uuid.UUID]
) -> int:
    """An erased visitor's conversations: what the helper knew of them, the guidance they carried
    and what it saw and advised in them go; their ids are remembered (nothing else), so a late
    event about one of them records nothing. The statistics keep their counts (no one's data).
    Returns how many conversations the helper knew."""
    ids = list(conversation_ids)
    if not ids:
        return 0
    await conn.execute(
        """
        INSERT INTO erased_conversations (conversation_id, workspace_id)
        SELECT unnest($1::uuid[]), $2 ON CONFLICT (conversation_id) DO NOTHING
        """,
        ids,
        workspace_id,
    )
    await conn.execute(
        "DELETE FROM applications WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[])", workspace_id, ids
    )
    await conn.execute(
        "DELETE FROM advice_log WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[])", workspace_id, ids
    )
    deleted = await conn.fetch(
        "DELETE FROM conversations WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[]) RETURNING 1",
        workspace_id,
        ids,
    )
    return len(deleted)

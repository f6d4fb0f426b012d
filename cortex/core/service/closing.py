"""Conversations that end: closed after an idle time, or by a member; labelled with their outcomes
(cortex.core.outcomes) and announced as `conversation.closed` in the same transaction.

Each core replica runs `close_idle_conversations`: every `CORTEX_CONVERSATION_CLOSE_INTERVAL_S` it
closes, in batches, the conversations without a message for `CORTEX_CONVERSATION_IDLE_CLOSE_S`.
A batch is claimed with `FOR UPDATE SKIP LOCKED`, so replicas share the work and none closes a
conversation another is closing; a conversation a visitor is writing to right now is locked by
their turn and skipped. A visitor (or a member) writing to a closed conversation reopens it; an
outcome that arrives once it closed (a booking, a lead) announces the closing again with the new
labels, so whoever credits outcomes moves by the difference.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from cortex import bus
from cortex.background import repeat
from cortex.contracts.events import Outcome
from cortex.core import outcomes as labels
from cortex.core import store

if TYPE_CHECKING:
    from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.core.closing")

# Conversations closed per transaction: each is one UPDATE and one outbox row, so a batch holds its
# locks for tens of milliseconds, and a backlog (the first run after an upgrade) drains in steps.
BATCH = 100


def last_reply_of(row: asyncpg.Record | None) -> labels.LastReply | None:
    """A message row's closing view (None: the conversation has no bot reply)."""
    if row is None:
        return None
    return labels.LastReply(
        answered=row["answered"], degraded=row["degraded"], interrupted=row["interrupted"], feedback=row["feedback"]
    )


async def announce_closed(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    outcomes: list[Outcome],
    by: str,
    closed_at: datetime,
) -> None:
    """`conversation.closed`, in the caller's transaction."""
    await bus.emit(
        conn,
        schema="core",
        event_type="conversation.closed",
        workspace_id=workspace_id,
        payload={
            "conversation_id": str(conversation_id),
            "bot_id": str(bot_id),
            "visitor_id": visitor_id,
            "outcome": labels.primary(outcomes),
            "outcomes": list(outcomes),
            "by": by,
            "closed_at": closed_at.isoformat(),
        },
    )


async def announce_row_closed(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, row: asyncpg.Record) -> None:
    """`conversation.closed` for a closed conversation's row, as it stands (labels, who, when)."""
    await announce_closed(
        conn,
        workspace_id=workspace_id,
        conversation_id=row["id"],
        bot_id=row["bot_id"],
        visitor_id=row["visitor_id"],
        outcomes=labels.ordered(row["outcomes"]),
        by=row["closed_by"] or "member",
        closed_at=row["closed_at"] or row["last_message_at"],
    )


async def close_idle(pool: asyncpg.Pool, *, idle_s: float, batch: int = BATCH) -> int:
    """Close one batch of conversations idle for `idle_s`; how many were closed."""
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_idle_conversations(conn, idle_s=idle_s, limit=batch)
        for conversation in due:
            reply = last_reply_of(conversation) if conversation["has_reply"] else None
            outcomes = labels.closing_outcomes(conversation["outcomes"], reply)
            row = await store.close_conversation(
                conn,
                workspace_id=conversation["workspace_id"],
                conversation_id=conversation["id"],
                outcomes=list(outcomes),
                by="idle",
            )
            assert row is not None  # locked by this transaction
            await announce_row_closed(conn, workspace_id=conversation["workspace_id"], row=row)
        return len(due)


async def close_idle_conversations(resources: ServiceResources) -> None:
    """Core's background loop: close idle conversations until the replica stops. A Postgres outage
    is logged and retried at the next interval."""
    assert resources.db is not None
    pool, settings, stop = resources.db, resources.settings, resources.stopping

    async def close_all_due() -> None:  # batch after batch while full ones come back
        while await close_idle(pool, idle_s=settings.conversation_idle_close_s) == BATCH and not stop.is_set():
            pass

    await repeat(
        close_all_due, every_s=settings.conversation_close_interval_s, stop=stop, what="closing idle conversations"
    )


async def close_by_member(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation: asyncpg.Record,
    given: list[Outcome] | None,
) -> asyncpg.Record:
    """A member closes an open conversation (locked by the caller), with their labels or, when they
    give none, the ones closing would give it; announced."""
    if given is not None:
        outcomes = labels.member_outcomes(given)
    else:
        reply = await store.last_reply(conn, workspace_id=workspace_id, conversation_id=conversation["id"])
        outcomes = labels.closing_outcomes(conversation["outcomes"], last_reply_of(reply))
    row = await store.close_conversation(
        conn, workspace_id=workspace_id, conversation_id=conversation["id"], outcomes=list(outcomes), by="member"
    )
    assert row is not None
    await announce_row_closed(conn, workspace_id=workspace_id, row=row)
    return row


async def reopen(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation: asyncpg.Record,
    status: str = "open",
    given: list[Outcome] | None = None,
) -> asyncpg.Record:
    """A closed conversation (locked by the caller) open again: its closing's judgments go
    (`resolved`, `abandoned`), its facts stay (or a member's `given` labels replace them);
    announced as `conversation.updated`."""
    kept = labels.ordered(given) if given is not None else labels.reopened_outcomes(conversation["outcomes"])
    row = await store.reopen_conversation(
        conn, workspace_id=workspace_id, conversation_id=conversation["id"], status=status, outcomes=list(kept)
    )
    assert row is not None
    await bus.emit(
        conn,
        schema="core",
        event_type="conversation.updated",
        workspace_id=workspace_id,
        payload={"conversation_id": str(row["id"]), "status": row["status"], "outcomes": list(row["outcomes"])},
    )
    return row


async def label(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, outcome: Outcome
) -> bool:
    """Label a conversation with an outcome that happened (once; False when it had it or is gone).
    A conversation already closed is announced closed again with its new labels."""
    row = await store.get_conversation(
        conn, workspace_id=workspace_id, conversation_id=conversation_id, for_update=True
    )
    if row is None or outcome in row["outcomes"]:
        return False
    if row["status"] != "closed":
        return await store.add_outcome(
            conn, workspace_id=workspace_id, conversation_id=conversation_id, outcome=outcome
        )
    row = await store.set_outcomes(
        conn,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        outcomes=list(labels.with_outcome(row["outcomes"], outcome)),
    )
    assert row is not None
    await announce_row_closed(conn, workspace_id=workspace_id, row=row)
    return True

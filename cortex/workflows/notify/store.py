"""The SQL of durable tasks (`workflows.tasks`): queue, claim, finish, list, and scrub."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson

TaskKind = Literal["reminder", "follow_up", "notify_owner", "calendar_sync"]
TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]

#: NOTIFY channel of the task loop: a task queued for now wakes it at commit.
CHANNEL = "cortex_tasks_workflows"

TASK_COLUMNS = (
    "id, workspace_id, kind, status, due_at, attempts, max_attempts, appointment_id, conversation_id, payload,"
    " last_error, created_at, updated_at, finished_at"
)


def task_of(row: asyncpg.Record) -> dict[str, Any]:
    task = dict(row)
    if isinstance(task["payload"], str):
        task["payload"] = orjson.loads(task["payload"])
    return task


async def queue_task(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    kind: TaskKind,
    due_at: datetime,
    payload: dict[str, Any],
    appointment_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    max_attempts: int = 8,
) -> uuid.UUID:
    """A queued task, in the caller's transaction; the loop is woken when it commits."""
    task_id = uuid.uuid4()
    await conn.execute(
        """
        WITH row AS (
            INSERT INTO tasks (id, workspace_id, kind, due_at, payload, appointment_id, conversation_id, max_attempts)
            VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8) RETURNING 1)
        SELECT pg_notify($9, '') FROM row
        """,
        task_id,
        workspace_id,
        kind,
        due_at,
        orjson.dumps(payload).decode(),
        appointment_id,
        conversation_id,
        max_attempts,
        CHANNEL,
    )
    return task_id


async def reminders_of(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The appointment's reminders not yet sent (locked: a concurrent move waits)."""
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE workspace_id = $1 AND appointment_id = $2 AND kind = 'reminder' "
        "AND status = 'queued' FOR UPDATE",
        workspace_id,
        appointment_id,
    )
    return [task_of(row) for row in rows]


async def move_task(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, task_id: uuid.UUID, due_at: datetime) -> None:
    await conn.execute(
        "UPDATE tasks SET due_at = $3, attempts = 0, last_error = NULL, updated_at = now() "
        "WHERE id = $1 AND workspace_id = $2 AND status = 'queued'",
        task_id,
        workspace_id,
        due_at,
    )


async def cancel_tasks(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    reason: str,
    appointment_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    kind: TaskKind | None = None,
    task_ids: list[uuid.UUID] | None = None,
) -> int:
    """Cancel the matching tasks still queued; how many."""
    result = await conn.execute(
        """
        UPDATE tasks SET status = 'cancelled', last_error = $6, finished_at = now(), updated_at = now()
         WHERE workspace_id = $1 AND status = 'queued'
           AND ($2::uuid IS NULL OR appointment_id = $2) AND ($3::uuid IS NULL OR conversation_id = $3)
           AND ($4::text IS NULL OR kind = $4) AND ($5::uuid[] IS NULL OR id = ANY($5))
        """,
        workspace_id,
        appointment_id,
        conversation_id,
        kind,
        task_ids,
        reason,
    )
    return int(result.rsplit(" ", 1)[1])


async def reclaim_abandoned(conn: asyncpg.Connection, *, lease_s: float) -> int:
    """Tasks `running` longer than the lease (their replica died): queued again, now."""
    result = await conn.execute(
        """
        UPDATE tasks SET status = 'queued', due_at = now(), updated_at = now(),
                         last_error = 'interrupted: the replica running it stopped'
         WHERE status = 'running' AND updated_at < now() - make_interval(secs => $1)
        """,
        lease_s,
    )
    return int(result.rsplit(" ", 1)[1])


async def claim_due(conn: asyncpg.Connection, *, limit: int) -> list[dict[str, Any]]:
    """Due queued tasks, marked running (one attempt more); replicas never claim the same one."""
    rows = await conn.fetch(
        f"""
        UPDATE tasks SET status = 'running', attempts = attempts + 1, updated_at = now()
         WHERE id IN (SELECT id FROM tasks WHERE status = 'queued' AND due_at <= now()
                       ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING {TASK_COLUMNS}
        """,
        limit,
    )
    return [task_of(row) for row in rows]


async def finish(
    conn: asyncpg.Connection,
    *,
    task_id: uuid.UUID,
    status: Literal["succeeded", "failed", "cancelled"],
    error: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE tasks SET status = $2, last_error = $3, finished_at = now(), updated_at = now() "
        "WHERE id = $1 AND status = 'running'",
        task_id,
        status,
        error,
    )


async def retry_later(conn: asyncpg.Connection, *, task_id: uuid.UUID, error: str, delay_s: float) -> None:
    await conn.execute(
        "UPDATE tasks SET status = 'queued', last_error = $2, due_at = now() + make_interval(secs => $3), "
        "updated_at = now() WHERE id = $1 AND status = 'running'",
        task_id,
        error,
        delay_s,
    )


async def list_tasks(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    status: TaskStatus | None = None,
    kind: TaskKind | None = None,
    appointment_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        SELECT {TASK_COLUMNS} FROM tasks
         WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
           AND ($4::uuid IS NULL OR appointment_id = $4)
         ORDER BY created_at DESC, id LIMIT $5 OFFSET $6
        """,
        workspace_id,
        status,
        kind,
        appointment_id,
        limit,
        offset,
    )
    return [task_of(row) for row in rows]


async def get_task(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, task_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND workspace_id = $2", task_id, workspace_id
    )
    return task_of(row) if row else None


async def requeue(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, task_id: uuid.UUID) -> dict[str, Any] | None:
    """A failed or cancelled task queued again for now, with its attempts reset; None if it is not one."""
    row = await conn.fetchrow(
        f"""
        WITH row AS (
            UPDATE tasks SET status = 'queued', due_at = GREATEST(due_at, now()), attempts = 0, finished_at = NULL,
                             updated_at = now()
             WHERE id = $1 AND workspace_id = $2 AND status IN ('failed', 'cancelled')
            RETURNING {TASK_COLUMNS})
        SELECT row.*, pg_notify($3, '') FROM row
        """,
        task_id,
        workspace_id,
        CHANNEL,
    )
    return task_of(row) if row else None


async def scrub_visitor(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    appointment_ids: list[uuid.UUID],
    conversation_ids: list[uuid.UUID],
) -> int:
    """The payloads of an erased visitor's tasks emptied of everything but what the task kind needs to
    find its appointment or conversation; queued follow-ups about them cancelled (nobody to follow up)."""
    await conn.execute(
        "UPDATE tasks SET status = 'cancelled', last_error = 'the visitor was erased', finished_at = now(), "
        "updated_at = now() WHERE workspace_id = $1 AND kind = 'follow_up' AND status = 'queued' "
        "AND conversation_id = ANY($2)",
        workspace_id,
        conversation_ids,
    )
    result = await conn.execute(
        """
        UPDATE tasks SET payload = payload - ARRAY['name', 'email', 'notes', 'visitor_id'], updated_at = now()
         WHERE workspace_id = $1 AND (appointment_id = ANY($2) OR conversation_id = ANY($3))
        """,
        workspace_id,
        appointment_ids,
        conversation_ids,
    )
    return int(result.rsplit(" ", 1)[1])


async def conversation_booked(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    """Whether an appointment was ever made from this conversation (a cancelled one counts: they talked)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM appointments WHERE workspace_id = $1 AND conversation_id = $2)",
            workspace_id,
            conversation_id,
        )
    )

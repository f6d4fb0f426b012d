"""`/api/langgraph/tasks`: the workspace's durable tasks (reminders, follow-ups, owner notifications),
their status and last error; a failed or cancelled one can be retried, a queued one cancelled."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from cortex.errors import Conflict, NotFound
from cortex.http.security import Principal, require
from cortex.workflows.notify import store
from cortex.workflows.notify.store import TaskKind, TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]

# What a payload may show: the ids and settings a task runs with (never a visitor's details).
_PUBLIC_PAYLOAD = ("channel", "event", "bot_id", "hours", "previous_starts_at", "by", "calendars", "during")


class TaskPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kind: TaskKind
    status: TaskStatus
    due_at: datetime
    attempts: int
    max_attempts: int
    appointment_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    payload: dict[str, Any]
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _public(task: dict[str, Any]) -> TaskPublic:
    payload = {key: value for key, value in task["payload"].items() if key in _PUBLIC_PAYLOAD}
    return TaskPublic(**{**{k: v for k, v in task.items() if k != "workspace_id"}, "payload": payload})


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.resources.db
    return pool


Pool = Annotated[asyncpg.Pool, Depends(_pool)]


@router.get("", response_model=list[TaskPublic])
async def list_tasks(
    principal: Viewer,
    pool: Pool,
    status: TaskStatus | None = None,
    kind: TaskKind | None = None,
    appointment_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TaskPublic]:
    """The workspace's tasks, newest first, with their status, attempts and last error."""
    async with pool.acquire() as conn:
        tasks = await store.list_tasks(
            conn,
            workspace_id=principal.workspace_id,
            status=status,
            kind=kind,
            appointment_id=appointment_id,
            limit=limit,
            offset=offset,
        )
    return [_public(task) for task in tasks]


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(task_id: uuid.UUID, principal: Viewer, pool: Pool) -> TaskPublic:
    async with pool.acquire() as conn:
        task = await store.get_task(conn, workspace_id=principal.workspace_id, task_id=task_id)
    if task is None:
        raise NotFound("no such task")
    return _public(task)


@router.post("/{task_id}/retry", response_model=TaskPublic)
async def retry_task(task_id: uuid.UUID, principal: Admin, pool: Pool) -> TaskPublic:
    """Run a failed or cancelled task again now, with its attempts reset (409 for any other status)."""
    return await _change(pool, principal, task_id, "retry")


@router.post("/{task_id}/cancel", response_model=TaskPublic)
async def cancel_task(task_id: uuid.UUID, principal: Admin, pool: Pool) -> TaskPublic:
    """Cancel a queued task (409 once it runs or has ended)."""
    return await _change(pool, principal, task_id, "cancel")


async def _change(
    pool: asyncpg.Pool, principal: Principal, task_id: uuid.UUID, action: Literal["retry", "cancel"]
) -> TaskPublic:
    workspace_id = principal.workspace_id
    async with pool.acquire() as conn, conn.transaction():
        task = await store.get_task(conn, workspace_id=workspace_id, task_id=task_id)
        if task is None:
            raise NotFound("no such task")
        if action == "retry":
            changed = await store.requeue(conn, workspace_id=workspace_id, task_id=task_id)
            if changed is None:
                raise Conflict(f"a {task['status']} task cannot be retried; only a failed or cancelled one")
        else:
            cancelled = await store.cancel_tasks(
                conn, workspace_id=workspace_id, task_ids=[task_id], reason=f"cancelled by {principal.subject}"
            )
            if not cancelled:
                raise Conflict(f"a {task['status']} task cannot be cancelled; only a queued one")
            changed = await store.get_task(conn, workspace_id=workspace_id, task_id=task_id)
    assert changed is not None
    return _public(changed)

"""The workspace's audit log: security events, who did them, from where."""

from __future__ import annotations

from typing import Any

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service.base import AuthDomain
from cortex.http.security import Principal


async def record(
    conn: asyncpg.Connection, principal: Principal, event: str, *, ip: str, detail: dict[str, Any] | None = None
) -> None:
    """A security event done by a member, in their workspace's audit log."""
    await store.insert_audit(
        conn, workspace_id=principal.workspace_id, user_id=principal.user_id, event=event, detail=detail, ip=ip
    )


class AuditService(AuthDomain):
    async def audit_log(self, principal: Principal, *, limit: int, before_id: int | None) -> list[schemas.AuditEntry]:
        """Newest first; `before_id` pages back."""
        async with self.db.acquire() as conn:
            rows = await store.list_audit(conn, workspace_id=principal.workspace_id, limit=limit, before_id=before_id)
        return [schemas.AuditEntry(**dict(row)) for row in rows]

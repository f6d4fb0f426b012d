"""Workspace membership: who belongs, with which role, and the rule that a workspace keeps an owner.

People join through invitations (`invitations.py`), never directly."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain
from cortex.errors import Conflict, Forbidden, NotFound
from cortex.http.security import ROLE_RANK, Principal


class MemberService(AuthDomain):
    async def list_members(self, principal: Principal) -> list[schemas.MemberPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_members(conn, workspace_id=principal.workspace_id)
        return [_member(row) for row in rows]

    async def change_role(
        self, principal: Principal, user_id: uuid.UUID, role: schemas.Role, *, ip: str
    ) -> schemas.MemberPublic:
        """A new role; the member's sessions end so it applies at once."""
        async with self.db.acquire() as conn, conn.transaction():
            member = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user_id)
            if member is None:
                raise NotFound("member not found")
            may_grant(principal, role)
            may_grant(principal, member["role"])
            if member["role"] == "owner" and role != "owner":
                await _keep_an_owner(conn, principal.workspace_id)
            await store.set_member_role(conn, workspace_id=principal.workspace_id, user_id=user_id, role=role)
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, user_id=user_id, reason="role_changed"
            )
            await audit.record(
                conn,
                principal,
                "member.role_changed",
                ip=ip,
                detail={"member_id": str(user_id), "from": member["role"], "to": role},
            )
            row = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user_id)
        await self.tokens.deny_sessions(revoked)
        assert row is not None
        return _member(row)

    async def remove_member(self, principal: Principal, user_id: uuid.UUID, *, ip: str) -> None:
        """The member leaves the workspace; their sessions in it end at once."""
        async with self.db.acquire() as conn, conn.transaction():
            member = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user_id)
            if member is None:
                raise NotFound("member not found")
            may_grant(principal, member["role"])
            if member["role"] == "owner":
                await _keep_an_owner(conn, principal.workspace_id)
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, user_id=user_id, reason="member_removed"
            )
            await store.remove_member(conn, workspace_id=principal.workspace_id, user_id=user_id)
            await audit.record(
                conn, principal, "member.removed", ip=ip, detail={"member_id": str(user_id), "role": member["role"]}
            )
        await self.tokens.deny_sessions(revoked)


def _member(row: asyncpg.Record) -> schemas.MemberPublic:
    return schemas.MemberPublic.model_validate(dict(row))


def may_grant(principal: Principal, role: str) -> None:
    """Admins manage agents and viewers (and admins); only owners touch owners."""
    assert principal.role is not None
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise Forbidden(f"an {principal.role} cannot manage the {role} role")


async def _keep_an_owner(conn: asyncpg.Connection, workspace_id: uuid.UUID) -> None:
    if await store.count_owners(conn, workspace_id=workspace_id) <= 1:
        raise Conflict("a workspace needs at least one owner; make someone else owner first")

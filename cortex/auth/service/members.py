"""Workspace membership: who belongs, with which role, and the rule that a workspace keeps an owner."""

from __future__ import annotations

import uuid

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain
from cortex.errors import Conflict, Forbidden, NotFound
from cortex.http.security import ROLE_RANK, Principal
from cortex.mail import send_mail

# What an invitation answers, whether or not the address has an account: the mail says which.
INVITED = "We sent an invitation to this address."


class MemberService(AuthDomain):
    async def list_members(self, principal: Principal) -> list[schemas.MemberPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_members(conn, workspace_id=principal.workspace_id)
        return [_member(row) for row in rows]

    async def invite(self, principal: Principal, data: schemas.InviteIn, *, ip: str) -> schemas.InvitationSent:
        """Invite an address with a role (owners alone may invite owners). The answer is the same
        whether or not the address has a Cortex account; the mail to it says what to do: an account
        joins at once, an address without one is asked to sign up first."""
        _may_grant(principal, data.role)
        await self.limiter.check(
            f"invite:workspace:{principal.workspace_id}", self.settings.invites_per_workspace_per_min, "workspace"
        )
        async with self.db.acquire() as conn, conn.transaction():
            workspace = await store.get_workspace(conn, workspace_id=principal.workspace_id)
            assert workspace is not None
            user = await store.get_user_by_email(conn, email=data.email)
            if user is None:
                await audit.record(
                    conn, principal, "member.invited", ip=ip, detail={"email": data.email, "role": data.role}
                )
            else:
                if not await store.add_membership(
                    conn, workspace_id=principal.workspace_id, user_id=user["id"], role=data.role
                ):
                    # Only a member of this very workspace: the caller can list them anyway.
                    raise Conflict("already a member of this workspace")
                await audit.record(
                    conn, principal, "member.added", ip=ip, detail={"member_id": str(user["id"]), "role": data.role}
                )
            inviter = await store.get_user(conn, user_id=principal.user_id) if principal.user_id else None
        by = inviter["email"] if inviter else "An administrator"
        subject, text = (_added if user is not None else _invited)(
            by=by, workspace=workspace["name"], role=data.role, url=self.settings.resolved_public_url()
        )
        await send_mail(self.settings, to=user["email"] if user else data.email, subject=subject, text=text)
        return schemas.InvitationSent(email=data.email, role=data.role, message=INVITED)

    async def change_role(
        self, principal: Principal, user_id: uuid.UUID, role: schemas.Role, *, ip: str
    ) -> schemas.MemberPublic:
        """A new role; the member's sessions end so it applies at once."""
        async with self.db.acquire() as conn, conn.transaction():
            member = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user_id)
            if member is None:
                raise NotFound("member not found")
            _may_grant(principal, role)
            _may_grant(principal, member["role"])
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
            _may_grant(principal, member["role"])
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


def _added(*, by: str, workspace: str, role: str, url: str) -> tuple[str, str]:
    return "You were added to a Cortex workspace", (
        f'Hello,\n\n{by} added you to the Cortex workspace "{workspace}" as {role}.\n\n'
        f"Log in at {url}/dashboard and pick the workspace from the menu.\n"
    )


def _invited(*, by: str, workspace: str, role: str, url: str) -> tuple[str, str]:
    return "You are invited to a Cortex workspace", (
        f'Hello,\n\n{by} invited you to the Cortex workspace "{workspace}" as {role}.\n\n'
        f"This address has no Cortex account yet. Create one at {url}/dashboard with this address, "
        "then ask them to invite you again.\n\nIf you do not know them, you can ignore this message.\n"
    )


def _member(row: asyncpg.Record) -> schemas.MemberPublic:
    return schemas.MemberPublic.model_validate(dict(row))


def _may_grant(principal: Principal, role: str) -> None:
    """Admins manage agents and viewers (and admins); only owners touch owners."""
    assert principal.role is not None
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise Forbidden(f"an {principal.role} cannot manage the {role} role")


async def _keep_an_owner(conn: asyncpg.Connection, workspace_id: uuid.UUID) -> None:
    if await store.count_owners(conn, workspace_id=workspace_id) <= 1:
        raise Conflict("a workspace needs at least one owner; make someone else owner first")

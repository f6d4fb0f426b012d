"""Invitations: nobody joins a workspace until the owner of the invited address accepts.

An admin invites an address with a role (owners alone invite owners); the address gets a link
that works once, for `CORTEX_INVITATION_TTL_S`. The invitee opens it signed in with a verified
account of that very address (an address without an account signs up, verifies, then opens it
again) and only then becomes a member. Until then the workspace shows the invitation, never an
account: the answer, the member list and the audit log are the same whether or not the address
has a Cortex account. Admins list open invitations and revoke them; inviting the same address
again replaces its open invitation.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain, member_id
from cortex.auth.service.members import may_grant
from cortex.auth.service.tokens import workspace_public
from cortex.auth.service.verification import Unverified, dashboard_link, require_verified
from cortex.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from cortex.http.security import Principal, hash_secret
from cortex.mail import queue_mail
from cortex.settings import Settings

# What an invitation answers, whether or not the address has an account: the mail says what to do.
INVITED = "We sent an invitation to this address."
NOT_VALID = "this invitation link is not valid any more (expired, revoked or already used): ask for a new one"
OTHER_ADDRESS = (
    "this invitation was sent to another address: log in with the account of the invited address "
    "(or create one with it and verify it), then open the link again"
)


class InvitationService(AuthDomain):
    async def invite(self, principal: Principal, data: schemas.InviteIn, *, ip: str) -> schemas.InvitationSent:
        """Invite an address with a role. The answer and what the workspace shows are the same whether
        or not the address has a Cortex account; nobody joins until the invitee accepts."""
        may_grant(principal, data.role)
        await self.limiter.check(
            f"invite:workspace:{principal.workspace_id}", self.settings.invites_per_workspace_per_min, "workspace"
        )
        token = secrets.token_urlsafe(32)
        async with self.db.acquire() as conn, conn.transaction():
            await require_verified(conn, principal.user_id)
            workspace = await store.get_workspace(conn, workspace_id=principal.workspace_id)
            assert workspace is not None
            members = await store.list_members(conn, workspace_id=principal.workspace_id)
            if any(member["email"].lower() == data.email.lower() for member in members):
                # Only a member of this very workspace: the caller can list them anyway.
                raise Conflict("already a member of this workspace")
            invitation = await store.create_invitation(
                conn,
                workspace_id=principal.workspace_id,
                invitation_id=uuid.uuid4(),
                email=data.email,
                role=data.role,
                invited_by=principal.user_id,
                token_hash=hash_secret(token),
                expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.invitation_ttl_s),
            )
            await audit.record(
                conn,
                principal,
                "member.invited",
                ip=ip,
                detail={"invitation_id": str(invitation["id"]), "email": data.email, "role": data.role},
            )
            # Read only to word the mail, which goes to the address alone.
            has_account = await store.get_user_by_email(conn, email=data.email) is not None
            inviter = await store.get_user(conn, user_id=principal.user_id) if principal.user_id else None
            subject, text = invitation_mail(
                self.settings,
                by=inviter["email"] if inviter else "An administrator",
                workspace=workspace["name"],
                role=data.role,
                token=token,
                has_account=has_account,
            )
            await queue_mail(conn, self.settings, to=data.email, subject=subject, text=text)
        return schemas.InvitationSent(email=data.email, role=data.role, message=INVITED)

    async def list_invitations(self, principal: Principal) -> list[schemas.InvitationPublic]:
        """Open invitations, newest first (expired ones included, marked so)."""
        async with self.db.acquire() as conn:
            rows = await store.list_open_invitations(conn, workspace_id=principal.workspace_id)
        return [_invitation(row) for row in rows]

    async def revoke(self, principal: Principal, invitation_id: uuid.UUID, *, ip: str) -> None:
        """The link stops working at once."""
        async with self.db.acquire() as conn, conn.transaction():
            invitation = await store.get_open_invitation(
                conn, workspace_id=principal.workspace_id, invitation_id=invitation_id
            )
            if invitation is None:
                raise NotFound("invitation not found")
            may_grant(principal, invitation["role"])
            await store.revoke_invitation(conn, workspace_id=principal.workspace_id, invitation_id=invitation_id)
            await audit.record(
                conn,
                principal,
                "invitation.revoked",
                ip=ip,
                detail={"invitation_id": str(invitation_id), "email": invitation["email"], "role": invitation["role"]},
            )

    async def accept(self, principal: Principal, token: str, *, ip: str) -> schemas.InvitationAccepted:
        """Join the invitation's workspace: the signed-in account must have the invited address, verified."""
        user_id = member_id(principal)
        await self.limiter.check(f"invitation:accept:{user_id}", self.settings.login_per_account_ip_per_min, "account")
        async with self.db.acquire() as conn, conn.transaction():
            invitation = await store.lock_invitation_by_token(conn, token_hash=hash_secret(token))
            if invitation is None or not _open(invitation):
                raise Invalid(NOT_VALID, details=[{"field": "body.token", "message": "not an open invitation"}])
            user = await store.get_user(conn, user_id=user_id)
            if user is None:
                raise Unauthorized("account no longer exists")
            if user["email"].lower() != invitation["email"].lower():
                raise Forbidden(OTHER_ADDRESS)
            if user["email_verified_at"] is None:
                raise Unverified(
                    "verify your address first: open the verification link we mailed you (or send a new one from "
                    "the banner at the top of the dashboard), then open the invitation link again"
                )
            workspace_id = invitation["workspace_id"]
            added = await store.add_membership(
                conn, workspace_id=workspace_id, user_id=user_id, role=invitation["role"]
            )
            await store.accept_invitation(
                conn, workspace_id=workspace_id, invitation_id=invitation["id"], user_id=user_id
            )
            if added:
                await store.insert_audit(
                    conn,
                    workspace_id=workspace_id,
                    user_id=user_id,
                    event="member.added",
                    detail={
                        "member_id": str(user_id),
                        "role": invitation["role"],
                        "invitation_id": str(invitation["id"]),
                    },
                    ip=ip,
                )
            membership = await store.get_membership(conn, workspace_id=workspace_id, user_id=user_id)
            workspace = await store.get_workspace(conn, workspace_id=workspace_id)
        assert membership is not None and workspace is not None
        message = f'You joined "{workspace["name"]}" as {membership["role"]}.'
        if not added:
            message = f'You already belong to "{workspace["name"]}" (as {membership["role"]}).'
        return schemas.InvitationAccepted(
            workspace=workspace_public(workspace, membership["role"]), role=membership["role"], message=message
        )


def invitation_mail(
    settings: Settings, *, by: str, workspace: str, role: str, token: str, has_account: bool
) -> tuple[str, str]:
    days = max(1, settings.invitation_ttl_s // 86400)
    link = dashboard_link(settings, "invitation", token)
    how = (
        "Open the link and log in with your Cortex account of this address to join."
        if has_account
        else "This address has no Cortex account yet: open the link, create one with this address, "
        "verify it from the mail we send you, then open this link again to join."
    )
    return "You are invited to a Cortex workspace", (
        f'Hello,\n\n{by} invited you to the Cortex workspace "{workspace}" as {role}.\n\n'
        f"{how} The link works for {days} days:\n\n{link}\n\n"
        "If you do not know them, you can ignore this message: nothing happens until you accept.\n"
    )


def _open(invitation: asyncpg.Record) -> bool:
    return (
        invitation["accepted_at"] is None
        and invitation["revoked_at"] is None
        and invitation["expires_at"] > datetime.now(UTC)
    )


def _invitation(row: asyncpg.Record) -> schemas.InvitationPublic:
    return schemas.InvitationPublic(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        invited_by_email=row["invited_by_email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        expired=row["expires_at"] <= datetime.now(UTC),
    )

"""Accounts: sign-up (with the account's own workspace), login by password or OIDC, passwords, `me`."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from cortex import bus
from cortex.auth import passwords, schemas, store
from cortex.auth.service.base import AuthDomain, member_id
from cortex.auth.service.tokens import user_public, workspace_public
from cortex.errors import Conflict, Invalid, Unauthorized
from cortex.http.security import Principal

security_log = logging.getLogger("cortex.security")

INVALID_LOGIN = "invalid email or password"


class AccountService(AuthDomain):
    async def register(self, data: schemas.RegisterIn, *, ip: str, user_agent: str) -> schemas.TokenPair:
        """Account + workspace (caller is owner) + session; `user.registered` goes out via the outbox."""
        await self.limiter.check(f"register:ip:{ip}", self.settings.login_per_ip_per_min, "IP address")
        passwords.check_policy(data.password, email=data.email, min_length=self.settings.password_min_length)
        password_hash = passwords.hash_password(data.password)
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.create_user(
                conn,
                user_id=uuid.uuid4(),
                email=data.email,
                password_hash=password_hash,
                display_name=data.display_name,
            )
            if user is None:
                raise Conflict("an account with this email already exists; log in instead")
            workspace = await open_workspace(
                conn, user=user, name=data.workspace_name, marketing_consent=data.marketing_consent, ip=ip
            )
            return await self.tokens.start_session(
                conn, user=user, workspace=workspace, role="owner", ip=ip, user_agent=user_agent
            )

    async def login(self, data: schemas.LoginIn, *, ip: str, user_agent: str) -> schemas.TokenPair:
        """One generic 401 for an unknown email or a wrong password, with the same work for both."""
        await self.limiter.check(f"login:ip:{ip}", self.settings.login_per_ip_per_min, "IP address")
        await self.limiter.check(
            f"login:account:{data.email.lower()}", self.settings.login_per_account_per_min, "account"
        )
        async with self.db.acquire() as conn:
            user = await store.get_user_by_email(conn, email=data.email)
            valid = passwords.verify_password(user["password_hash"] if user else None, data.password)
            memberships = await store.workspaces_of_user(conn, user_id=user["id"]) if user else []
            if not valid or user is None or user["disabled_at"] is not None or not memberships:
                if user is not None:
                    security_log.warning("login failed", extra={"user_id": str(user["id"]), "ip": ip})
                    for membership in memberships:
                        await store.insert_audit(
                            conn, workspace_id=membership["id"], user_id=user["id"], event="login.failed", ip=ip
                        )
                raise Unauthorized(INVALID_LOGIN)
            chosen = memberships[0]
            if data.workspace_id is not None:
                chosen = next((m for m in memberships if m["id"] == data.workspace_id), None)
                if chosen is None:
                    raise Unauthorized(INVALID_LOGIN)
            if passwords.needs_rehash(user["password_hash"]):
                await store.set_password_hash(
                    conn, user_id=user["id"], password_hash=passwords.hash_password(data.password)
                )
            async with conn.transaction():
                await store.insert_audit(
                    conn, workspace_id=chosen["id"], user_id=user["id"], event="login.succeeded", ip=ip
                )
                return await self.tokens.start_session(
                    conn, user=user, workspace=chosen, role=chosen["role"], ip=ip, user_agent=user_agent
                )

    async def login_with_identity(
        self, *, provider: str, subject: str, email: str, email_verified: bool, name: str, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        """OIDC login: a known identity, or a verified email of an existing account, or a new account."""
        async with self.db.acquire() as conn, conn.transaction():
            identity = await store.get_identity(conn, provider=provider, subject=subject)
            user = await store.get_user(conn, user_id=identity["user_id"]) if identity else None
            if user is None:
                if not email_verified:
                    raise Unauthorized(f"{provider} did not verify this email address")
                user = await store.get_user_by_email(conn, email=email)
            if user is None:
                user = await store.create_user(
                    conn, user_id=uuid.uuid4(), email=email, password_hash=None, display_name=name[:120]
                )
                assert user is not None
                await open_workspace(
                    conn,
                    user=user,
                    name=f"{name or email.split('@')[0]}'s workspace"[:120],
                    marketing_consent=False,
                    ip=ip,
                )
            await store.insert_identity(conn, provider=provider, subject=subject, user_id=user["id"], email=email)
            memberships = await store.workspaces_of_user(conn, user_id=user["id"])
            if not memberships:
                raise Unauthorized("this account belongs to no workspace")
            chosen = memberships[0]
            await store.insert_audit(
                conn,
                workspace_id=chosen["id"],
                user_id=user["id"],
                event="login.succeeded",
                detail={"provider": provider},
                ip=ip,
            )
            return await self.tokens.start_session(
                conn, user=user, workspace=chosen, role=chosen["role"], ip=ip, user_agent=user_agent
            )

    async def change_password(
        self, principal: Principal, data: schemas.PasswordChangeIn, *, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        """The signed-in member's own change: the current password first; then every session of the
        account ends (other devices included) and this one gets fresh tokens."""
        user_id = member_id(principal)
        await self.limiter.check(f"password:account:{user_id}", self.settings.login_per_account_per_min, "account")
        async with self.db.acquire() as conn:
            user = await store.get_user(conn, user_id=user_id)
            if user is None or not passwords.verify_password(user["password_hash"], data.current_password):
                if user is not None:
                    await store.insert_audit(
                        conn,
                        workspace_id=principal.workspace_id,
                        user_id=user["id"],
                        event="password.change_failed",
                        ip=ip,
                    )
                raise Invalid(
                    "the current password is not right",
                    details=[{"field": "body.current_password", "message": "not your current password"}],
                )
        try:
            passwords.check_policy(data.new_password, email=user["email"], min_length=self.settings.password_min_length)
        except Invalid as error:  # the policy names `password`; here the field is `new_password`
            details = [{**problem, "field": "body.new_password"} for problem in error.details or []]
            raise Invalid(error.message, details=details) from None
        password_hash = passwords.hash_password(data.new_password)
        async with self.db.acquire() as conn, conn.transaction():
            await store.set_password_hash(conn, user_id=user["id"], password_hash=password_hash)
            memberships = await store.workspaces_of_user(conn, user_id=user["id"])
            revoked = await _end_every_session(
                conn,
                user_id=user["id"],
                workspaces=memberships,
                reason="password_changed",
                event="password.changed",
                ip=ip,
            )
            current = next(m for m in memberships if m["id"] == principal.workspace_id)
            pair = await self.tokens.start_session(
                conn, user=user, workspace=current, role=current["role"], ip=ip, user_agent=user_agent
            )
        await self.tokens.deny_sessions(revoked)
        return pair

    async def set_password(self, *, email: str, password: str) -> bool:
        """An operator's reset from the command line (`cortex demo`): a new password, every session ended.

        False when no account has this email. No principal: whoever can reach the database
        already holds every account, so this grants nothing new.
        """
        passwords.check_policy(password, email=email, min_length=self.settings.password_min_length)
        password_hash = passwords.hash_password(password)
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user_by_email(conn, email=email)
            if user is None:
                return False
            await store.set_password_hash(conn, user_id=user["id"], password_hash=password_hash)
            workspaces = await store.workspaces_of_user(conn, user_id=user["id"])
            revoked = await _end_every_session(
                conn, user_id=user["id"], workspaces=workspaces, reason="password_reset", event="password.reset"
            )
        await self.tokens.deny_sessions(revoked)
        return True

    async def me(self, principal: Principal) -> schemas.MeOut:
        """The caller's account, the workspace of this session, and every workspace they belong to."""
        user_id = member_id(principal)
        async with self.db.acquire() as conn:
            user = await store.get_user(conn, user_id=user_id)
            workspaces = await store.workspaces_of_user(conn, user_id=user_id)
        if user is None:
            raise Unauthorized("account no longer exists")
        current = next((w for w in workspaces if w["id"] == principal.workspace_id), None)
        if current is None:
            raise Unauthorized("no longer a member of this workspace")
        return schemas.MeOut(
            user=user_public(user),
            workspace=workspace_public(current),
            role=current["role"],
            workspaces=[workspace_public(w) for w in workspaces],
        )


async def open_workspace(
    conn: asyncpg.Connection, *, user: asyncpg.Record, name: str, marketing_consent: bool, ip: str
) -> asyncpg.Record:
    """A new account's own workspace, the account as owner; `user.registered` starts the signup saga."""
    workspace = await store.create_workspace(conn, workspace_id=uuid.uuid4(), name=name)
    await store.add_membership(conn, workspace_id=workspace["id"], user_id=user["id"], role="owner")
    await store.insert_audit(conn, workspace_id=workspace["id"], user_id=user["id"], event="user.registered", ip=ip)
    await bus.emit(
        conn,
        schema="auth",
        event_type="user.registered",
        workspace_id=workspace["id"],
        payload={
            "user_id": str(user["id"]),
            "email": user["email"],
            "display_name": user["display_name"],
            "workspace_id": str(workspace["id"]),
            "marketing_consent": marketing_consent,
        },
    )
    return workspace


async def _end_every_session(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    workspaces: list[asyncpg.Record],
    reason: str,
    event: str,
    ip: str = "",
) -> list[uuid.UUID]:
    """A new password ends the account's sessions in each of its workspaces, audited there; the
    caller denies the returned sessions once the transaction has committed."""
    revoked: list[uuid.UUID] = []
    for workspace in workspaces:
        revoked += await store.revoke_sessions(conn, workspace_id=workspace["id"], user_id=user_id, reason=reason)
        await store.insert_audit(conn, workspace_id=workspace["id"], user_id=user_id, event=event, ip=ip)
    return revoked

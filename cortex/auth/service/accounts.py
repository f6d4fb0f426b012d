"""Accounts: sign-up (with the account's own workspace), login by password or OIDC, passwords, `me`."""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from datetime import UTC, datetime

import asyncpg

from cortex import bus
from cortex.auth import passwords, schemas, store
from cortex.auth.service import devices, verification
from cortex.auth.service.base import AuthDomain, member_id
from cortex.auth.service.tokens import user_public, workspace_public
from cortex.errors import Invalid, RateLimited, Unauthorized
from cortex.http.security import Principal, ip_key
from cortex.mail import queue_mail

security_log = logging.getLogger("cortex.security")

INVALID_LOGIN = "invalid email or password"
# What sign-up answers, whether the address was new or already had an account: only the mail
# to the address says which.
REGISTERED = (
    "We sent a message to this address. If it had no Cortex account, it has one now: log in with the "
    "password you chose."
)


class AccountService(AuthDomain):
    async def register(self, data: schemas.RegisterIn, *, ip: str) -> schemas.RegisterAccepted:
        """A new account with its own workspace (the account owns it; `user.registered` goes out via
        the outbox). The answer is the same when the address already has an account, so sign-up
        tells nobody which addresses do; the mail to the address tells its owner what happened."""
        await self._limit(
            [
                (f"register:ip:{ip_key(ip)}", self.settings.login_per_ip_per_min, "IP address"),
                (f"register:email:{_hashed(data.email)}", self.settings.login_per_account_ip_per_min, "address"),
            ]
        )
        passwords.check_policy(data.password, email=data.email, min_length=self.settings.password_min_length)
        # Hashed whether or not the account is created: the hash is most of the work, and both
        # answers must take as long.
        password_hash = passwords.hash_password(data.password)
        existing: asyncpg.Record | None = None
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.create_user(
                conn,
                user_id=uuid.uuid4(),
                email=data.email,
                password_hash=password_hash,
                display_name=data.display_name,
            )
            if user is not None:
                await open_workspace(
                    conn, user=user, name=data.workspace_name, marketing_consent=data.marketing_consent, ip=ip
                )
                token = await verification.issue_link_token(
                    conn, purpose=verification.VERIFY, user=user, ttl_s=self.settings.email_verification_ttl_s
                )
                welcome = self._welcome(token)
                await queue_mail(conn, self.settings, to=user["email"], subject="Your Cortex account", text=welcome)
            else:
                existing = await store.get_user_by_email(conn, email=data.email)
                if existing is not None:  # its owners' audit logs show the attempt
                    for membership in await store.workspaces_of_user(conn, user_id=existing["id"]):
                        await store.insert_audit(
                            conn,
                            workspace_id=membership["id"],
                            user_id=existing["id"],
                            event="register.existing_address",
                            ip=ip,
                        )
                    await queue_mail(
                        conn,
                        self.settings,
                        to=existing["email"],
                        subject="Someone tried to sign up with your address",
                        text=self._already_registered(ip),
                    )
        if existing is not None:
            security_log.info("sign-up with an existing address", extra={"user_id": str(existing["id"]), "ip": ip})
        return schemas.RegisterAccepted(email=data.email, message=REGISTERED)

    def _welcome(self, token: str) -> str:
        # Nothing the person who signed up typed (workspace or display name) goes into this mail:
        # until the address is proven theirs, it may be someone else's inbox.
        _, verify = verification.verification_mail(self.settings, token)
        return (
            "Hello,\n\n"
            "A Cortex account was created with this address. Log in at "
            f"{self.settings.resolved_public_url()}/dashboard with the password chosen at sign-up.\n\n"
            + verify.removeprefix("Hello,\n\n")
        )

    def _already_registered(self, ip: str) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            "Hello,\n\n"
            f"Someone tried to create a Cortex account with this address on {when} (from {ip}). "
            "You already have an account, so nothing was created and nothing changed.\n\n"
            f"If it was you, log in at {self.settings.resolved_public_url()}/dashboard (forgot the password? "
            "'Forgot your password?' there mails you a link). If it was not, you can ignore this message.\n"
        )

    async def _limit(self, checks: list[tuple[str, int, str]]) -> None:
        """Count one attempt against every limit at once; 429 (with Retry-After) when one is spent.
        A refused attempt is charged to none of them."""
        _, decision, what = await self.limiter.admit(None, checks)
        if not decision.allowed:
            raise RateLimited(
                f"too many attempts for this {what}; retry in {max(1, math.ceil(decision.retry_after_s))} s",
                headers=decision.headers(),
            )

    async def login(
        self, data: schemas.LoginIn, *, ip: str, user_agent: str, device_cookie: str | None = None
    ) -> schemas.TokenPair:
        """One generic 401 for an unknown email or a wrong password, with the same work for both.

        Attempts are limited per client IP, per account from that IP, and (4x looser) per account
        from every IP: failing an account's logins from one machine never locks its owner out of
        another, and guessing from many machines still meets a limit. That last limit is shared
        by strangers' machines only: a browser that has logged in to the account before (its
        device cookie, see `devices`) has a limit of its own, so nobody can spend the owner's."""
        account = _hashed(data.email)
        client = ip_key(ip)
        device = devices.known_device(self.settings, account, device_cookie)
        shared = (
            (f"login:account-device:{account}:{device}", self.settings.login_per_account_ip_per_min, "device")
            if device
            else (f"login:account:{account}", self.settings.login_per_account_per_min, "account")
        )
        await self._limit(
            [
                (f"login:ip:{client}", self.settings.login_per_ip_per_min, "IP address"),
                (
                    f"login:account-ip:{account}:{client}",
                    self.settings.login_per_account_ip_per_min,
                    "account from this IP address",
                ),
                shared,
            ]
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

    def device_cookie(self, email: str, cookie: str | None) -> str:
        """The device cookie a successful login to `email` leaves in the browser."""
        return devices.issue(self.settings, _hashed(email), cookie)

    async def login_with_identity(
        self, *, provider: str, subject: str, email: str, email_verified: bool, name: str, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        """OIDC login: a known identity, or a new account, or an existing account with this address
        once that account has verified it too.

        Both must have proved the address: the provider and the account. An account someone created
        with the address but never verified may be an impostor's, so linking it would hand the
        provider's user an account the impostor still holds a password for (and the impostor a way
        in); the person is asked to sign in with the password and verify first, or to take the
        account over with a password reset, which verifies it."""
        async with self.db.acquire() as conn, conn.transaction():
            identity = await store.get_identity(conn, provider=provider, subject=subject)
            user = await store.get_user(conn, user_id=identity["user_id"]) if identity else None
            if user is None:
                if not email_verified:
                    raise Unauthorized(f"{provider} did not verify this email address")
                user = await store.get_user_by_email(conn, email=email)
                if user is not None and user["email_verified_at"] is None:
                    security_log.info(
                        "OIDC login refused: the account's address is unverified",
                        extra={"user_id": str(user["id"]), "ip": ip},
                    )
                    raise verification.Unverified(
                        "a Cortex account with this address exists, but its address is not verified yet: log in "
                        "with its password and open the verification link we mailed (or use 'Forgot your "
                        f"password?' to get a link), then continue with {provider}"
                    )
            if user is None:
                user = await store.create_user(
                    conn,
                    user_id=uuid.uuid4(),
                    email=email,
                    password_hash=None,
                    display_name=name[:120],
                    email_verified=True,  # the provider verified it
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
        await self.limiter.check(f"password:account:{user_id}", self.settings.login_per_account_ip_per_min, "account")
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


def _hashed(email: str) -> str:
    """An address as rate-limit keys name it: case-insensitive, and not readable in Redis."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]

"""The auth service: accounts, workspaces, sessions, token rotation, keys, audit."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from cortex import bus
from cortex.auth import keys, passwords, schemas, store
from cortex.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from cortex.http.ratelimit import RateLimiter
from cortex.http.security import (
    ACCESS_TOKEN_TYPE,
    API_KEY_LAST_USED,
    API_KEY_RECORD,
    LEEWAY_S,
    MEMBER_AUDIENCE,
    REVOKED_SESSION,
    ROLE_RANK,
    VISITOR_AUDIENCE,
    VISITOR_TOKEN_TYPE,
    Principal,
    hash_secret,
)
from cortex.settings import Settings

log = logging.getLogger("cortex.auth")
security_log = logging.getLogger("cortex.security")

INVALID_LOGIN = "invalid email or password"
# Signing keys this process has seen in the published JWKS: a token is only handed out once
# every verifier can find its key.
_published_kids: set[str] = set()


def _user(row: asyncpg.Record) -> schemas.UserPublic:
    return schemas.UserPublic(
        id=row["id"], email=row["email"], display_name=row["display_name"], created_at=row["created_at"]
    )


def _workspace(row: asyncpg.Record, role: str | None = None) -> schemas.WorkspacePublic:
    return schemas.WorkspacePublic(
        id=row["id"], name=row["name"], plan=row["plan"], role=role or row.get("role"), created_at=row["created_at"]
    )


class AuthService:
    """Auth logic over its store; collaborators (pool, redis, settings) are injected."""

    def __init__(self, *, db: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.limiter = RateLimiter(redis)

    # -- tokens ------------------------------------------------------------------------------
    async def _issue(
        self,
        conn: asyncpg.Connection,
        *,
        user: asyncpg.Record,
        workspace: asyncpg.Record,
        role: str,
        session_id: uuid.UUID,
    ) -> schemas.TokenPair:
        now = int(time.time())
        refresh_token = "rt_" + secrets.token_urlsafe(32)
        await store.insert_refresh_token(
            conn,
            token_hash=hash_secret(refresh_token),
            session_id=session_id,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_s),
        )
        signing_key = await self._signing_key(conn)
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": MEMBER_AUDIENCE,
            "sub": str(user["id"]),
            "wid": str(workspace["id"]),
            "role": role,
            "sid": str(session_id),
            "plan": workspace["plan"],
            "jti": uuid.uuid4().hex,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.access_token_ttl_s,
        }
        return schemas.TokenPair(
            access_token=signing_key.sign(claims, token_type=ACCESS_TOKEN_TYPE),
            refresh_token=refresh_token,
            expires_in=self.settings.access_token_ttl_s,
            user=_user(user),
            workspace=_workspace(workspace, role),
        )

    async def _signing_key(self, conn: asyncpg.Connection) -> keys.SigningKey:
        signing_key = await keys.current_key(conn, self.settings)
        if signing_key.kid not in _published_kids:
            await keys.publish_jwks(conn, self.redis, self.settings)
            _published_kids.add(signing_key.kid)
        return signing_key

    async def _new_session(
        self,
        conn: asyncpg.Connection,
        *,
        user: asyncpg.Record,
        workspace: asyncpg.Record,
        role: str,
        ip: str,
        user_agent: str,
    ) -> schemas.TokenPair:
        session_id = uuid.uuid4()
        await store.create_session(
            conn,
            workspace_id=workspace["id"],
            session_id=session_id,
            user_id=user["id"],
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_s),
            user_agent=user_agent,
            ip=ip,
        )
        return await self._issue(conn, user=user, workspace=workspace, role=role, session_id=session_id)

    async def _deny_sessions(self, session_ids: list[uuid.UUID]) -> None:
        """Access tokens of these sessions stop working at once, everywhere (until they expire)."""
        if not session_ids:
            return
        ttl = self.settings.access_token_ttl_s + LEEWAY_S
        pipe = self.redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(REVOKED_SESSION + str(session_id), b"1", ex=ttl)
        await pipe.execute()

    # -- registration and login -------------------------------------------------------------
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
            workspace = await _open_workspace(
                conn, user=user, name=data.workspace_name, marketing_consent=data.marketing_consent, ip=ip
            )
            return await self._new_session(
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
                return await self._new_session(
                    conn, user=user, workspace=chosen, role=chosen["role"], ip=ip, user_agent=user_agent
                )

    async def set_password(self, *, email: str, password: str) -> bool:
        """An operator's reset from the command line (`cortex demo`): a new password, every session ended.

        False when no account has this email. No principal: whoever can reach the database
        already holds every account, so this grants nothing new.
        """
        passwords.check_policy(password, email=email, min_length=self.settings.password_min_length)
        password_hash = passwords.hash_password(password)
        revoked: list[uuid.UUID] = []
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user_by_email(conn, email=email)
            if user is None:
                return False
            await store.set_password_hash(conn, user_id=user["id"], password_hash=password_hash)
            for workspace in await store.workspaces_of_user(conn, user_id=user["id"]):
                revoked += await store.revoke_sessions(
                    conn, workspace_id=workspace["id"], user_id=user["id"], reason="password_reset"
                )
                await store.insert_audit(conn, workspace_id=workspace["id"], user_id=user["id"], event="password.reset")
        await self._deny_sessions(revoked)
        return True

    async def change_password(
        self, principal: Principal, data: schemas.PasswordChangeIn, *, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        """The signed-in member's own change: the current password first; then every session of the
        account ends (other devices included) and this one gets fresh tokens."""
        assert principal.user_id is not None
        await self.limiter.check(
            f"password:account:{principal.user_id}", self.settings.login_per_account_per_min, "account"
        )
        async with self.db.acquire() as conn:
            user = await store.get_user(conn, user_id=principal.user_id)
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
        revoked: list[uuid.UUID] = []
        async with self.db.acquire() as conn, conn.transaction():
            await store.set_password_hash(conn, user_id=user["id"], password_hash=password_hash)
            memberships = await store.workspaces_of_user(conn, user_id=user["id"])
            for workspace in memberships:
                revoked += await store.revoke_sessions(
                    conn, workspace_id=workspace["id"], user_id=user["id"], reason="password_changed"
                )
                await store.insert_audit(
                    conn, workspace_id=workspace["id"], user_id=user["id"], event="password.changed", ip=ip
                )
            current = next(m for m in memberships if m["id"] == principal.workspace_id)
            pair = await self._new_session(
                conn, user=user, workspace=current, role=current["role"], ip=ip, user_agent=user_agent
            )
        await self._deny_sessions(revoked)
        return pair

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
                await _open_workspace(
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
            return await self._new_session(
                conn, user=user, workspace=chosen, role=chosen["role"], ip=ip, user_agent=user_agent
            )

    async def refresh(self, refresh_token: str, *, ip: str) -> schemas.TokenPair:
        """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
        token_hash = hash_secret(refresh_token)
        async with self.db.acquire() as conn:
            async with conn.transaction():
                row = await store.lock_refresh_token(conn, token_hash=token_hash)
                if row is None:
                    raise Unauthorized("invalid refresh token")
                reused = row["spent_at"] is not None and row["revoked_at"] is None
                if reused:
                    revoked = await store.revoke_sessions(
                        conn, workspace_id=row["workspace_id"], session_id=row["session_id"], reason="refresh_reuse"
                    )
                    await store.insert_audit(
                        conn,
                        workspace_id=row["workspace_id"],
                        user_id=row["user_id"],
                        event="refresh.reuse_detected",
                        detail={"session_id": str(row["session_id"])},
                        ip=ip,
                    )
            if reused:
                await self._deny_sessions(revoked)
                security_log.warning(
                    "refresh token reuse: session revoked",
                    extra={"session_id": str(row["session_id"]), "user_id": str(row["user_id"]), "ip": ip},
                )
                raise Unauthorized("refresh token already used; the session has been revoked")
            async with conn.transaction():
                row = await store.lock_refresh_token(conn, token_hash=token_hash)
                if row is None or row["spent_at"] is not None or row["revoked_at"] is not None:
                    raise Unauthorized("invalid refresh token")
                if row["expires_at"] <= datetime.now(UTC):
                    raise Unauthorized("refresh token expired; log in again")
                membership = await store.get_membership(conn, workspace_id=row["workspace_id"], user_id=row["user_id"])
                user = await store.get_user(conn, user_id=row["user_id"])
                if membership is None or user is None or user["disabled_at"] is not None:
                    raise Unauthorized("no longer a member of this workspace")
                await store.spend_refresh_token(conn, token_hash=token_hash)
                await store.touch_session(conn, workspace_id=row["workspace_id"], session_id=row["session_id"])
                workspace = await store.get_workspace(conn, workspace_id=row["workspace_id"])
                assert workspace is not None
                return await self._issue(
                    conn, user=user, workspace=workspace, role=membership["role"], session_id=row["session_id"]
                )

    async def logout(self, principal: Principal, *, ip: str) -> None:
        """The access token and every refresh token of its session stop working at once."""
        assert principal.session_id is not None
        async with self.db.acquire() as conn, conn.transaction():
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, session_id=principal.session_id, reason="logout"
            )
            await _audit(conn, principal, "logout", ip=ip)
        await self._deny_sessions(revoked or [principal.session_id])

    async def switch_workspace(
        self, principal: Principal, workspace_id: uuid.UUID, *, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        async with self.db.acquire() as conn, conn.transaction():
            membership = await store.get_membership(conn, workspace_id=workspace_id, user_id=principal.user_id)
            if membership is None:
                raise NotFound("workspace not found")
            user = await store.get_user(conn, user_id=principal.user_id)
            workspace = await store.get_workspace(conn, workspace_id=workspace_id)
            assert user is not None and workspace is not None
            return await self._new_session(
                conn, user=user, workspace=workspace, role=membership["role"], ip=ip, user_agent=user_agent
            )

    async def me(self, principal: Principal) -> schemas.MeOut:
        async with self.db.acquire() as conn:
            user = await store.get_user(conn, user_id=principal.user_id)
            workspaces = await store.workspaces_of_user(conn, user_id=principal.user_id)
        if user is None:
            raise Unauthorized("account no longer exists")
        current = next((w for w in workspaces if w["id"] == principal.workspace_id), None)
        if current is None:
            raise Unauthorized("no longer a member of this workspace")
        return schemas.MeOut(
            user=_user(user),
            workspace=_workspace(current),
            role=current["role"],
            workspaces=[_workspace(w) for w in workspaces],
        )

    # -- sessions ------------------------------------------------------------------------------
    async def list_sessions(self, principal: Principal) -> list[schemas.SessionPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_sessions(conn, workspace_id=principal.workspace_id, user_id=principal.user_id)
        return [
            schemas.SessionPublic(
                id=row["id"],
                created_at=row["created_at"],
                last_used_at=row["last_used_at"],
                expires_at=row["expires_at"],
                user_agent=row["user_agent"],
                ip=row["ip"],
                current=row["id"] == principal.session_id,
            )
            for row in rows
        ]

    async def revoke_session(self, principal: Principal, session_id: uuid.UUID, *, ip: str) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            session = await store.get_session(conn, workspace_id=principal.workspace_id, session_id=session_id)
            if session is None or session["user_id"] != principal.user_id:
                raise NotFound("session not found")
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, session_id=session_id, reason="revoked_by_user"
            )
            await _audit(conn, principal, "session.revoked", ip=ip, detail={"session_id": str(session_id)})
        await self._deny_sessions(revoked)

    # -- members -------------------------------------------------------------------------------
    async def list_members(self, principal: Principal) -> list[schemas.MemberPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_members(conn, workspace_id=principal.workspace_id)
        return [_member(row) for row in rows]

    async def invite(self, principal: Principal, data: schemas.InviteIn, *, ip: str) -> schemas.MemberPublic:
        """Add an existing account to the workspace with a role (owners alone may add owners)."""
        _may_grant(principal, data.role)
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user_by_email(conn, email=data.email)
            if user is None:
                raise NotFound("no Cortex account uses this email yet; ask them to sign up, then invite them")
            if not await store.add_membership(
                conn, workspace_id=principal.workspace_id, user_id=user["id"], role=data.role
            ):
                raise Conflict("already a member of this workspace")
            await _audit(
                conn, principal, "member.added", ip=ip, detail={"member_id": str(user["id"]), "role": data.role}
            )
            row = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user["id"])
        assert row is not None
        return _member(row)

    async def change_role(
        self, principal: Principal, user_id: uuid.UUID, role: str, *, ip: str
    ) -> schemas.MemberPublic:
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
            await _audit(
                conn,
                principal,
                "member.role_changed",
                ip=ip,
                detail={"member_id": str(user_id), "from": member["role"], "to": role},
            )
            row = await store.get_membership(conn, workspace_id=principal.workspace_id, user_id=user_id)
        await self._deny_sessions(revoked)
        assert row is not None
        return _member(row)

    async def remove_member(self, principal: Principal, user_id: uuid.UUID, *, ip: str) -> None:
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
            await _audit(
                conn, principal, "member.removed", ip=ip, detail={"member_id": str(user_id), "role": member["role"]}
            )
        await self._deny_sessions(revoked)

    # -- API keys ------------------------------------------------------------------------------
    async def create_api_key(self, principal: Principal, data: schemas.ApiKeyIn, *, ip: str) -> schemas.ApiKeyCreated:
        prefix = secrets.token_hex(6)
        secret = f"ck_{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.create_api_key(
                conn,
                workspace_id=principal.workspace_id,
                key_id=uuid.uuid4(),
                name=data.name,
                prefix=prefix,
                secret_hash=hash_secret(secret),
                permissions=sorted(set(data.permissions)),
                created_by=principal.user_id,
            )
            workspace = await store.get_workspace(conn, workspace_id=principal.workspace_id)
            await _audit(
                conn,
                principal,
                "api_key.created",
                ip=ip,
                detail={"key_id": str(row["id"]), "name": data.name, "permissions": row["permissions"]},
            )
        assert workspace is not None
        await self._cache_api_key(
            row["id"], principal.workspace_id, prefix, hash_secret(secret), row["permissions"], workspace["plan"]
        )
        return schemas.ApiKeyCreated(**_api_key(row).model_dump(), secret=secret)

    async def _cache_api_key(
        self,
        key_id: uuid.UUID,
        workspace_id: uuid.UUID,
        prefix: str,
        secret_hash: bytes,
        permissions: list[str],
        plan: str,
    ) -> None:
        record = {
            "id": str(key_id),
            "workspace_id": str(workspace_id),
            "secret_hash": secret_hash.hex(),
            "permissions": list(permissions),
            "plan": plan,
        }
        await self.redis.set(API_KEY_RECORD + prefix, orjson.dumps(record))

    async def list_api_keys(self, principal: Principal) -> list[schemas.ApiKeyPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_api_keys(conn, workspace_id=principal.workspace_id)
        keys_out = [_api_key(row) for row in rows]
        if keys_out:
            # Verifiers note each use in Redis (no database write per request).
            used = await self.redis.hmget(API_KEY_LAST_USED, [str(k.id) for k in keys_out])
            for key, stamp in zip(keys_out, used, strict=True):
                if stamp is not None:
                    key.last_used_at = datetime.fromtimestamp(int(stamp), UTC)
        return keys_out

    async def revoke_api_key(self, principal: Principal, key_id: uuid.UUID, *, ip: str) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.revoke_api_key(conn, workspace_id=principal.workspace_id, key_id=key_id)
            if row is None:
                raise NotFound("API key not found")
            await _audit(conn, principal, "api_key.revoked", ip=ip, detail={"key_id": str(key_id), "name": row["name"]})
        await self.redis.delete(API_KEY_RECORD + row["prefix"])

    async def sync_api_key_cache(self) -> int:
        """Rebuild the verifiers' API-key records from Postgres (after a Redis loss, and periodically)."""
        async with self.db.acquire() as conn:
            rows = await store.active_api_keys_for_cache(conn)
        for row in rows:
            await self._cache_api_key(
                row["id"],
                row["workspace_id"],
                row["prefix"],
                bytes(row["secret_hash"]),
                row["permissions"],
                row["plan"],
            )
        return len(rows)

    # -- widget keys and visitor tokens -------------------------------------------------------
    async def create_widget_key(
        self, principal: Principal, data: schemas.WidgetKeyIn, *, ip: str
    ) -> schemas.WidgetKeyPublic:
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.create_widget_key(
                conn,
                workspace_id=principal.workspace_id,
                key_id=uuid.uuid4(),
                bot_id=data.bot_id,
                public_key="pk_" + secrets.token_urlsafe(18),
                allowed_origins=data.allowed_origins,
            )
            await _audit(
                conn,
                principal,
                "widget_key.created",
                ip=ip,
                detail={"key_id": str(row["id"]), "bot_id": str(data.bot_id), "origins": data.allowed_origins},
            )
        return _widget_key(row)

    async def list_widget_keys(
        self, principal: Principal, *, bot_id: uuid.UUID | None = None
    ) -> list[schemas.WidgetKeyPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_widget_keys(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
        return [_widget_key(row) for row in rows]

    async def update_widget_key(
        self, principal: Principal, key_id: uuid.UUID, data: schemas.WidgetKeyUpdate, *, ip: str
    ) -> schemas.WidgetKeyPublic:
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.update_widget_key_origins(
                conn, workspace_id=principal.workspace_id, key_id=key_id, allowed_origins=data.allowed_origins
            )
            if row is None:
                raise NotFound("widget key not found")
            await _audit(
                conn,
                principal,
                "widget_key.updated",
                ip=ip,
                detail={"key_id": str(key_id), "origins": data.allowed_origins},
            )
        return _widget_key(row)

    async def revoke_widget_key(self, principal: Principal, key_id: uuid.UUID, *, ip: str) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.revoke_widget_key(conn, workspace_id=principal.workspace_id, key_id=key_id)
            if row is None:
                raise NotFound("widget key not found")
            await _audit(conn, principal, "widget_key.revoked", ip=ip, detail={"key_id": str(key_id)})

    async def visitor_token(
        self, data: schemas.VisitorTokenIn, *, origin: str | None, member: Principal | None, ip: str
    ) -> schemas.VisitorTokenOut:
        """Exchange a widget key for a short-lived visitor token bound to bot and visitor.

        Deny by default: the request's Origin must be on the key's list. The only exception is
        the owner's preview, which needs a member token of the key's own workspace instead.
        """
        limits = self.settings.rate_limits["free"]
        await self.limiter.check(f"visitor-token:ip:{ip}", limits["visitor"] * 3, "IP address")
        async with self.db.acquire() as conn:
            key = await store.get_widget_key_by_public_key(conn, public_key=data.public_key)
        if key is None or key["revoked_at"] is not None:
            raise NotFound("unknown widget key")
        if data.preview:
            if member is None or member.kind != "user" or member.workspace_id != key["workspace_id"]:
                raise Forbidden("preview needs a signed-in member of this bot's workspace")
        elif origin is None or origin.rstrip("/").lower() not in key["allowed_origins"]:
            security_log.info("widget origin refused", extra={"origin": origin, "key_id": str(key["id"])})
            raise Forbidden("this site is not allowed to use this widget key")
        visitor_id = data.visitor_id or "v_" + secrets.token_urlsafe(16)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": VISITOR_AUDIENCE,
            "sub": visitor_id,
            "wid": str(key["workspace_id"]),
            "bot": str(key["bot_id"]),
            "plan": key["plan"],
            "jti": uuid.uuid4().hex,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.visitor_token_ttl_s,
        }
        async with self.db.acquire() as conn:
            signing_key = await self._signing_key(conn)
        return schemas.VisitorTokenOut(
            visitor_token=signing_key.sign(claims, token_type=VISITOR_TOKEN_TYPE),
            expires_in=self.settings.visitor_token_ttl_s,
            visitor_id=visitor_id,
            bot_id=key["bot_id"],
        )

    # -- audit and keys -------------------------------------------------------------------------
    async def audit_log(self, principal: Principal, *, limit: int, before_id: int | None) -> list[schemas.AuditEntry]:
        async with self.db.acquire() as conn:
            rows = await store.list_audit(conn, workspace_id=principal.workspace_id, limit=limit, before_id=before_id)
        return [schemas.AuditEntry(**dict(row)) for row in rows]

    async def jwks(self) -> dict[str, Any]:
        async with self.db.acquire() as conn:
            return await keys.publish_jwks(conn, self.redis, self.settings)

    async def rotate_signing_key(self) -> str:
        async with self.db.acquire() as conn:
            key = await keys.rotate(conn, self.settings)
            await keys.publish_jwks(conn, self.redis, self.settings)
        log.info("signing key rotated", extra={"kid": key.kid})
        return key.kid


def _member(row: asyncpg.Record) -> schemas.MemberPublic:
    return schemas.MemberPublic.model_validate(dict(row))


def _api_key(row: asyncpg.Record) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic.model_validate(dict(row))


def _widget_key(row: asyncpg.Record) -> schemas.WidgetKeyPublic:
    return schemas.WidgetKeyPublic.model_validate(dict(row))


async def _open_workspace(
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


async def _audit(
    conn: asyncpg.Connection, principal: Principal, event: str, *, ip: str, detail: dict[str, Any] | None = None
) -> None:
    """A security event done by a member, in their workspace's audit log."""
    await store.insert_audit(
        conn, workspace_id=principal.workspace_id, user_id=principal.user_id, event=event, detail=detail, ip=ip
    )


def _may_grant(principal: Principal, role: str) -> None:
    """Admins manage agents and viewers (and admins); only owners touch owners."""
    assert principal.role is not None
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise Forbidden(f"an {principal.role} cannot manage the {role} role")


async def _keep_an_owner(conn: asyncpg.Connection, workspace_id: uuid.UUID) -> None:
    if await store.count_owners(conn, workspace_id=workspace_id) <= 1:
        raise Conflict("a workspace needs at least one owner; make someone else owner first")

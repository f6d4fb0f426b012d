"""Member token pairs, the signing key and its JWKS, and ending sessions everywhere at once."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from cortex.auth import schemas, signing_keys, store
from cortex.http.security import ACCESS_TOKEN_TYPE, LEEWAY_S, MEMBER_AUDIENCE, REVOKED_SESSION, hash_secret
from cortex.settings import Settings

log = logging.getLogger("cortex.auth")

# Signing keys this process has seen in the published JWKS: a token is only handed out once
# every verifier can find its key.
_published_kids: set[str] = set()


def user_public(row: asyncpg.Record) -> schemas.UserPublic:
    return schemas.UserPublic(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        email_verified=row.get("email_verified_at") is not None,
    )


def workspace_public(row: asyncpg.Record, role: schemas.Role | None = None) -> schemas.WorkspacePublic:
    return schemas.WorkspacePublic(
        id=row["id"], name=row["name"], plan=row["plan"], role=role or row.get("role"), created_at=row["created_at"]
    )


class TokenService:
    """Signs Cortex tokens; every part of the auth service that hands out or ends a session uses it."""

    def __init__(self, *, db: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings

    async def signing_key(self, conn: asyncpg.Connection) -> signing_keys.SigningKey:
        """The active key, published to the verifiers before its first token leaves."""
        signing_key = await signing_keys.current_key(conn, self.settings)
        if signing_key.kid not in _published_kids:
            await signing_keys.publish_jwks(conn, self.redis, self.settings)
            _published_kids.add(signing_key.kid)
        return signing_key

    async def start_session(
        self,
        conn: asyncpg.Connection,
        *,
        user: asyncpg.Record,
        workspace: asyncpg.Record,
        role: schemas.Role,
        ip: str,
        user_agent: str,
    ) -> schemas.TokenPair:
        """A new session of `user` in `workspace`, and its first token pair."""
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
        return await self.issue_pair(conn, user=user, workspace=workspace, role=role, session_id=session_id)

    async def issue_pair(
        self,
        conn: asyncpg.Connection,
        *,
        user: asyncpg.Record,
        workspace: asyncpg.Record,
        role: schemas.Role,
        session_id: uuid.UUID,
    ) -> schemas.TokenPair:
        """A short-lived access token and a one-use refresh token for an existing session."""
        now = int(time.time())
        refresh_token = "rt_" + secrets.token_urlsafe(32)
        await store.insert_refresh_token(
            conn,
            token_hash=hash_secret(refresh_token),
            session_id=session_id,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_s),
        )
        signing_key = await self.signing_key(conn)
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
            user=user_public(user),
            workspace=workspace_public(workspace, role),
        )

    async def deny_sessions(self, session_ids: list[uuid.UUID]) -> None:
        """Access tokens of these sessions stop working at once, everywhere (until they expire)."""
        if not session_ids:
            return
        ttl = self.settings.access_token_ttl_s + LEEWAY_S
        pipe = self.redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(REVOKED_SESSION + str(session_id), b"1", ex=ttl)
        await pipe.execute()

    async def jwks(self) -> dict[str, Any]:
        """The public keys, (re)published where every verifier reads them."""
        async with self.db.acquire() as conn:
            return await signing_keys.publish_jwks(conn, self.redis, self.settings)

    async def rotate_signing_key(self) -> str:
        """A new signing key; tokens signed by the old one stay valid until they expire."""
        async with self.db.acquire() as conn:
            key = await signing_keys.rotate(conn, self.settings)
            await signing_keys.publish_jwks(conn, self.redis, self.settings)
        log.info("signing key rotated", extra={"kid": key.kid})
        return key.kid

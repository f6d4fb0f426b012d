"""Sessions: refresh-token rotation with reuse detection, logout, switching workspace, a member's devices."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain, member_id
from cortex.errors import NotFound, Unauthorized
from cortex.http.security import Principal, hash_secret

security_log = logging.getLogger("cortex.security")


class SessionService(AuthDomain):
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
                await self.tokens.deny_sessions(revoked)
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
                return await self.tokens.issue_pair(
                    conn, user=user, workspace=workspace, role=membership["role"], session_id=row["session_id"]
                )

    async def logout(self, principal: Principal, *, ip: str) -> None:
        """The access token and every refresh token of its session stop working at once."""
        assert principal.session_id is not None
        async with self.db.acquire() as conn, conn.transaction():
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, session_id=principal.session_id, reason="logout"
            )
            await audit.record(conn, principal, "logout", ip=ip)
        await self.tokens.deny_sessions(revoked or [principal.session_id])

    async def switch_workspace(
        self, principal: Principal, workspace_id: uuid.UUID, *, ip: str, user_agent: str
    ) -> schemas.TokenPair:
        """A new session in another workspace the caller belongs to (404 for any other)."""
        user_id = member_id(principal)
        async with self.db.acquire() as conn, conn.transaction():
            membership = await store.get_membership(conn, workspace_id=workspace_id, user_id=user_id)
            if membership is None:
                raise NotFound("workspace not found")
            user = await store.get_user(conn, user_id=user_id)
            workspace = await store.get_workspace(conn, workspace_id=workspace_id)
            assert user is not None and workspace is not None
            return await self.tokens.start_session(
                conn, user=user, workspace=workspace, role=membership["role"], ip=ip, user_agent=user_agent
            )

    async def list_sessions(self, principal: Principal) -> list[schemas.SessionPublic]:
        """The caller's live sessions in this workspace, this one marked `current`."""
        async with self.db.acquire() as conn:
            rows = await store.list_sessions(conn, workspace_id=principal.workspace_id, user_id=member_id(principal))
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
        """End one of the caller's own sessions (another device)."""
        async with self.db.acquire() as conn, conn.transaction():
            session = await store.get_session(conn, workspace_id=principal.workspace_id, session_id=session_id)
            if session is None or session["user_id"] != principal.user_id:
                raise NotFound("session not found")
            revoked = await store.revoke_sessions(
                conn, workspace_id=principal.workspace_id, session_id=session_id, reason="revoked_by_user"
            )
            await audit.record(conn, principal, "session.revoked", ip=ip, detail={"session_id": str(session_id)})
        await self.tokens.deny_sessions(revoked)

"""Widget keys: the public key a bot's snippet carries, the site origins allowed to use it, and
identity verification (the key's secret with which the business vouches for its visitors)."""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from cortex import secrets_box
from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain
from cortex.auth.service.verification import require_verified
from cortex.auth.service.visitors import IDENTITY_SECRET_SEALED_AS
from cortex.errors import Conflict, NotFound
from cortex.http.security import IDENTITY_REQUIRED, Principal


class WidgetKeyService(AuthDomain):
    async def create_widget_key(
        self, principal: Principal, data: schemas.WidgetKeyIn, *, ip: str
    ) -> schemas.WidgetKeyPublic:
        async with self.db.acquire() as conn, conn.transaction():
            if data.allowed_origins:  # a key without origins only previews in the dashboard
                await require_verified(conn, principal.user_id)
            row = await store.create_widget_key(
                conn,
                workspace_id=principal.workspace_id,
                key_id=uuid.uuid4(),
                bot_id=data.bot_id,
                public_key="pk_" + secrets.token_urlsafe(18),
                allowed_origins=data.allowed_origins,
            )
            await audit.record(
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
            if data.allowed_origins:
                await require_verified(conn, principal.user_id)
            row = await store.update_widget_key_origins(
                conn, workspace_id=principal.workspace_id, key_id=key_id, allowed_origins=data.allowed_origins
            )
            if row is None:
                raise NotFound("widget key not found")
            await audit.record(
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
            await audit.record(conn, principal, "widget_key.revoked", ip=ip, detail={"key_id": str(key_id)})

    async def create_identity_secret(
        self, principal: Principal, key_id: uuid.UUID, *, ip: str
    ) -> schemas.IdentitySecretOut:
        """A new identity secret for the key, returned this once and stored sealed; it replaces any
        earlier one at once (hashes made with the old secret stop verifying)."""
        identity_secret = "cis_" + secrets.token_urlsafe(32)
        sealed = secrets_box.seal_str(self.settings, identity_secret, purpose=IDENTITY_SECRET_SEALED_AS)
        async with self.db.acquire() as conn, conn.transaction():
            before = await store.get_widget_key(conn, workspace_id=principal.workspace_id, key_id=key_id)
            row = await store.set_widget_key_identity_secret(
                conn, workspace_id=principal.workspace_id, key_id=key_id, sealed_secret=sealed
            )
            if row is None or before is None:
                raise NotFound("widget key not found")
            rotated = before["has_identity_secret"]
            await audit.record(
                conn,
                principal,
                "widget_key.identity_secret_rotated" if rotated else "widget_key.identity_secret_created",
                ip=ip,
                detail={"key_id": str(key_id)},
            )
        return schemas.IdentitySecretOut(widget_key_id=key_id, identity_secret=identity_secret)

    async def set_identity_verification(
        self, principal: Principal, key_id: uuid.UUID, data: schemas.IdentityVerificationIn, *, ip: str
    ) -> schemas.WidgetKeyPublic:
        """Require (or stop requiring) verified visitors; tokens minted without it stop working at once."""
        async with self.db.acquire() as conn, conn.transaction():
            before = await store.get_widget_key(conn, workspace_id=principal.workspace_id, key_id=key_id)
            if before is None or before["revoked_at"] is not None:
                raise NotFound("widget key not found")
            if data.required and not before["has_identity_secret"]:
                raise Conflict(
                    "generate the key's identity secret first: POST /api/auth/widget-keys/{key_id}/identity-secret"
                )
            row = await store.set_widget_key_identity_required(
                conn, workspace_id=principal.workspace_id, key_id=key_id, required=data.required
            )
            assert row is not None
            await audit.record(
                conn,
                principal,
                "widget_key.identity_verification_on" if data.required else "widget_key.identity_verification_off",
                ip=ip,
                detail={"key_id": str(key_id)},
            )
            # Inside the transaction: when Redis fails, the change does not commit either.
            await self._publish_identity_marker(key_id, required=data.required)
        return _widget_key(row)

    async def _publish_identity_marker(self, key_id: uuid.UUID, *, required: bool) -> None:
        if required:
            await self.redis.set(IDENTITY_REQUIRED + str(key_id), b"1")
        else:
            await self.redis.delete(IDENTITY_REQUIRED + str(key_id))

    async def sync_identity_markers(self) -> int:
        """Rebuild the verifiers' markers of the keys requiring verified visitors (after a Redis
        loss, and periodically); returns how many keys require it."""
        async with self.db.acquire() as conn:
            required = {str(key_id) for key_id in await store.widget_keys_requiring_identity(conn)}
        stale = []
        async for name in self.redis.scan_iter(match=IDENTITY_REQUIRED + "*", count=500):
            text = name.decode() if isinstance(name, bytes) else str(name)
            if text.removeprefix(IDENTITY_REQUIRED) not in required:
                stale.append(text)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key_id in required:
                pipe.set(IDENTITY_REQUIRED + key_id, b"1")
            if stale:
                pipe.delete(*stale)
            await pipe.execute()
        return len(required)


def _widget_key(row: asyncpg.Record) -> schemas.WidgetKeyPublic:
    return schemas.WidgetKeyPublic.model_validate(dict(row))

"""Widget keys: the public key a bot's snippet carries, and the site origins allowed to use it."""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain
from cortex.errors import NotFound
from cortex.http.security import Principal


class WidgetKeyService(AuthDomain):
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


def _widget_key(row: asyncpg.Record) -> schemas.WidgetKeyPublic:
    return schemas.WidgetKeyPublic.model_validate(dict(row))

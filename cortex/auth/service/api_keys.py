"""API keys for server-to-server calls: made and revoked here, verified by every application from Redis."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain, member_id
from cortex.errors import NotFound
from cortex.http.security import API_KEY_LAST_USED, API_KEY_RECORD, Principal, hash_secret


class ApiKeyService(AuthDomain):
    async def create_api_key(self, principal: Principal, data: schemas.ApiKeyIn, *, ip: str) -> schemas.ApiKeyCreated:
        """A new key; its secret is in this answer only (Postgres keeps a hash)."""
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
                created_by=member_id(principal),
            )
            workspace = await store.get_workspace(conn, workspace_id=principal.workspace_id)
            await audit.record(
                conn,
                principal,
                "api_key.created",
                ip=ip,
                detail={"key_id": str(row["id"]), "name": data.name, "permissions": row["permissions"]},
            )
        assert workspace is not None
        await self._cache(
            row["id"], principal.workspace_id, prefix, hash_secret(secret), row["permissions"], workspace["plan"]
        )
        return schemas.ApiKeyCreated(**_api_key(row).model_dump(), secret=secret)

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
            await audit.record(
                conn, principal, "api_key.revoked", ip=ip, detail={"key_id": str(key_id), "name": row["name"]}
            )
        await self.redis.delete(API_KEY_RECORD + row["prefix"])

    async def sync_api_key_cache(self) -> int:
        """Rebuild the verifiers' API-key records from Postgres (after a Redis loss, and periodically)."""
        async with self.db.acquire() as conn:
            rows = await store.active_api_keys_for_cache(conn)
        for row in rows:
            await self._cache(
                row["id"],
                row["workspace_id"],
                row["prefix"],
                bytes(row["secret_hash"]),
                row["permissions"],
                row["plan"],
            )
        return len(rows)

    async def _cache(
        self,
        key_id: uuid.UUID,
        workspace_id: uuid.UUID,
        prefix: str,
        secret_hash: bytes,
        permissions: list[str],
        plan: str,
    ) -> None:
        """The record a verifier reads for a key, found by the prefix in the secret."""
        record = {
            "id": str(key_id),
            "workspace_id": str(workspace_id),
            "secret_hash": secret_hash.hex(),
            "permissions": list(permissions),
            "plan": plan,
        }
        await self.redis.set(API_KEY_RECORD + prefix, orjson.dumps(record))


def _api_key(row: asyncpg.Record) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic.model_validate(dict(row))

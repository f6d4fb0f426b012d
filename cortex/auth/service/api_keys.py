"""API keys for server-to-server calls: made and revoked here, verified by every application from Redis.

A revoke must win over the cache sync, which may have read a key just before it was revoked: a
revoke leaves a tombstone next to the record, and every write of a record is a compare-and-set
in one Lua script that refuses (and deletes the record) when a tombstone is there.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain, member_id
from cortex.auth.service.verification import require_verified
from cortex.errors import NotFound
from cortex.http.security import API_KEY_LAST_USED, API_KEY_RECORD, Principal, hash_secret

# Kept for good, one small key per revoked key: the sync re-creates any Redis lost from Postgres.
API_KEY_REVOKED = "cortex:auth:apikey-revoked:"

# KEYS[1]: the record, KEYS[2]: its tombstone; ARGV[1]: the record. A revoked key stays revoked.
_PUBLISH = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
_REVOKE = """
redis.call('SET', KEYS[2], '1')
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class CacheSnapshot:
    """What Postgres said when the sync read it: the active keys' records and the revoked prefixes."""

    records: dict[str, bytes]
    revoked: list[str]


class ApiKeyService(AuthDomain):
    async def create_api_key(self, principal: Principal, data: schemas.ApiKeyIn, *, ip: str) -> schemas.ApiKeyCreated:
        """A new key; its secret is in this answer only (Postgres keeps a hash)."""
        prefix = secrets.token_hex(6)
        secret = f"ck_{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"
        async with self.db.acquire() as conn, conn.transaction():
            await require_verified(conn, member_id(principal))  # a key reaches past the dashboard
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
        record = _record(row["id"], principal.workspace_id, hash_secret(secret), row["permissions"], workspace["plan"])
        await self.publish_api_key_cache(CacheSnapshot(records={prefix: record}, revoked=[]))
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
        await self.redis.register_script(_REVOKE)(keys=_keys(row["prefix"]))

    async def sync_api_key_cache(self) -> int:
        """Rebuild the verifiers' API-key records from Postgres (after a Redis loss, and periodically)."""
        return await self.publish_api_key_cache(await self.read_api_key_cache())

    async def read_api_key_cache(self) -> CacheSnapshot:
        """The sync's read: every active key's record and every revoked key's prefix."""
        async with self.db.acquire() as conn:
            rows = await store.active_api_keys_for_cache(conn)
            revoked = await store.revoked_api_key_prefixes(conn)
        records = {
            row["prefix"]: _record(
                row["id"], row["workspace_id"], bytes(row["secret_hash"]), row["permissions"], row["plan"]
            )
            for row in rows
        }
        return CacheSnapshot(records=records, revoked=revoked)

    async def publish_api_key_cache(self, snapshot: CacheSnapshot) -> int:
        """The sync's write, in one pipeline: tombstones first, then each record unless revoked since.

        Returns how many records were written (a key revoked after the read is not)."""
        revoke, publish = self.redis.register_script(_REVOKE), self.redis.register_script(_PUBLISH)
        async with self.redis.pipeline(transaction=False) as pipe:
            for prefix in snapshot.revoked:
                await revoke(keys=_keys(prefix), client=pipe)
            for prefix, record in snapshot.records.items():
                await publish(keys=_keys(prefix), args=[record], client=pipe)
            results = await pipe.execute()
        return sum(results[len(snapshot.revoked) :])


def _keys(prefix: str) -> list[str]:
    return [API_KEY_RECORD + prefix, API_KEY_REVOKED + prefix]


def _record(key_id: uuid.UUID, workspace_id: uuid.UUID, secret_hash: bytes, permissions: list[str], plan: str) -> bytes:
    """The record a verifier reads for a key, found by the prefix in the secret."""
    return orjson.dumps(
        {
            "id": str(key_id),
            "workspace_id": str(workspace_id),
            "secret_hash": secret_hash.hex(),
            "permissions": list(permissions),
            "plan": plan,
        }
    )


def _api_key(row: asyncpg.Record) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic.model_validate(dict(row))

"""A revoked API key stays revoked, whatever the key-cache sync read before the revoke."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from cortex.auth.service import ApiKeyService
from cortex.auth.service.api_keys import API_KEY_REVOKED
from cortex.db import create_pool
from cortex.http.security import API_KEY_RECORD
from cortex.settings import Settings

from .accounts import register


async def test_a_key_revoked_between_the_syncs_read_and_its_write_stays_revoked(
    http: httpx.AsyncClient, settings: Settings, redis_client: aioredis.Redis
) -> None:
    owner = await register(http)
    created = await http.post(
        "/api/auth/api-keys", json={"name": "CRM sync", "permissions": ["read"]}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()
    as_key = {"Authorization": f"Bearer {key['secret']}"}
    prefix = key["secret"].split("_")[1]
    assert (await http.get("/api/bots", headers=as_key)).status_code == 200

    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    try:
        sync = ApiKeyService(db=pool, redis=redis_client, settings=settings)
        snapshot = await sync.read_api_key_cache()  # the sync reads the key while it is still active…
        assert prefix in snapshot.records
        revoked = await http.delete(f"/api/auth/api-keys/{key['id']}", headers=owner.headers)
        assert revoked.status_code == 204
        await sync.publish_api_key_cache(snapshot)  # …and writes what it read after the revoke
        refused = await http.get("/api/bots", headers=as_key)
        assert refused.status_code == 401, "the sync brought a revoked key back to life"

        # Redis lost the records: the next round rebuilds them, and the revoked key stays out.
        await redis_client.delete(API_KEY_RECORD + prefix, API_KEY_REVOKED + prefix)
        await sync.sync_api_key_cache()
        assert (await http.get("/api/bots", headers=as_key)).status_code == 401
    finally:
        await pool.close()


async def test_the_sync_restores_an_active_keys_lost_record(
    http: httpx.AsyncClient, settings: Settings, redis_client: aioredis.Redis
) -> None:
    owner = await register(http)
    key = (
        await http.post("/api/auth/api-keys", json={"name": "CRM", "permissions": ["read"]}, headers=owner.headers)
    ).json()
    as_key = {"Authorization": f"Bearer {key['secret']}"}
    await redis_client.delete(API_KEY_RECORD + key["secret"].split("_")[1])
    assert (await http.get("/api/bots", headers=as_key)).status_code == 401
    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    try:
        await ApiKeyService(db=pool, redis=redis_client, settings=settings).sync_api_key_cache()
    finally:
        await pool.close()
    assert (await http.get("/api/bots", headers=as_key)).status_code == 200

"""Signing keys for Cortex tokens: Ed25519, encrypted at rest, rotated, published as a JWKS."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
import orjson
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cortex import secrets_box
from cortex.auth import store
from cortex.http.security import ALGORITHM, JWKS_KEY, LEEWAY_S
from cortex.settings import Settings


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime

    def sign(self, claims: dict[str, Any], *, token_type: str) -> str:
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": token_type})


# The private keys are stored sealed by the one encryption helper for stored secrets.
_SEALED_AS = "signing-keys"


def _public_jwk(kid: str, private_key: Ed25519PrivateKey) -> dict[str, str]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}


async def _create(conn: asyncpg.Connection, settings: Settings) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    kid = secrets.token_urlsafe(12)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    row = await store.insert_signing_key(
        conn,
        kid=kid,
        algorithm=ALGORITHM,
        private_key=secrets_box.seal_bytes(settings, pem, purpose=_SEALED_AS),
        public_jwk=_public_jwk(kid, private_key),
    )
    return SigningKey(kid, private_key, row["created_at"])


_loaded: dict[str, SigningKey] = {}


def _load(row: asyncpg.Record, settings: Settings) -> SigningKey:
    if row["kid"] in _loaded:
        return _loaded[row["kid"]]
    pem = secrets_box.open_bytes(settings, bytes(row["private_key"]), purpose=_SEALED_AS)
    private_key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private_key, Ed25519PrivateKey)
    _loaded[row["kid"]] = SigningKey(row["kid"], private_key, row["created_at"])
    return _loaded[row["kid"]]


async def current_key(conn: asyncpg.Connection, settings: Settings) -> SigningKey:
    """The active signing key; created on first use and rotated once older than the max age."""
    max_age = timedelta(days=settings.signing_key_max_age_days)
    row = await store.active_signing_key(conn)
    if row is not None and datetime.now(UTC) - row["created_at"] < max_age:
        return _load(row, settings)  # the hot path: no lock
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cortex.auth.signing_keys'))")
        row = await store.active_signing_key(conn)
        if row is not None and datetime.now(UTC) - row["created_at"] < max_age:
            return _load(row, settings)
        if row is not None:
            await store.retire_signing_key(conn, kid=row["kid"])
        return await _create(conn, settings)


async def rotate(conn: asyncpg.Connection, settings: Settings) -> SigningKey:
    """Retire the active key and make a new one; tokens signed by the old one stay valid."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cortex.auth.signing_keys'))")
        row = await store.active_signing_key(conn)
        if row is not None:
            await store.retire_signing_key(conn, kid=row["kid"])
        return await _create(conn, settings)


async def public_jwks(conn: asyncpg.Connection, settings: Settings) -> dict[str, list[dict[str, str]]]:
    """Public keys a verifier needs: the active one and retired ones whose tokens may still live."""
    longest_token_s = max(settings.access_token_ttl_s, settings.visitor_token_ttl_s) + LEEWAY_S
    rows = await store.verifiable_signing_keys(
        conn, retired_after=datetime.now(UTC) - timedelta(seconds=longest_token_s)
    )
    return {"keys": [row["public_jwk"] for row in rows]}


async def publish_jwks(conn: asyncpg.Connection, redis: aioredis.Redis, settings: Settings) -> dict[str, Any]:
    """Write the JWKS where every application's verifier reads it."""
    await current_key(conn, settings)
    jwks = await public_jwks(conn, settings)
    await redis.set(JWKS_KEY, orjson.dumps(jwks))
    return jwks

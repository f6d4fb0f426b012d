"""What every part of the auth service is built on: its collaborators, injected."""

from __future__ import annotations

import uuid

import asyncpg
import redis.asyncio as aioredis

from cortex.auth.service.tokens import TokenService
from cortex.errors import Forbidden
from cortex.http.ratelimit import RateLimiter
from cortex.http.security import Principal
from cortex.settings import Settings


class AuthDomain:
    """One part of the auth service over its store; the pool, Redis and settings are injected."""

    def __init__(self, *, db: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.limiter = RateLimiter(redis)
        self.tokens = TokenService(db=db, redis=redis, settings=settings)


def member_id(principal: Principal) -> uuid.UUID:
    """The caller's account; the routes that reach here admit signed-in members only."""
    if principal.user_id is None:
        raise Forbidden("only a signed-in member can do this")
    return principal.user_id

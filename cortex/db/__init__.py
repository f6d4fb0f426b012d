"""Postgres: one asyncpg pool per replica, one schema and one login role per service."""

from cortex.db.pool import create_pool

__all__ = ["create_pool"]

"""Per bot: whether the helper steers it, and the outcome its learning optimises (`helper.bot_settings`)."""

from __future__ import annotations

import uuid
from typing import Literal

import asyncpg

Goal = Literal["resolution", "lead", "booking"]
#: A bot without a settings row: steered, learning what resolves conversations.
DEFAULT_GOAL: Goal = "resolution"


async def get_bot_settings(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> asyncpg.Record | None:
    """The bot's row (None: never set, i.e. enabled with the default goal)."""
    return await conn.fetchrow(
        "SELECT bot_id, enabled, goal, updated_at FROM bot_settings WHERE bot_id = $1 AND workspace_id = $2",
        bot_id,
        workspace_id,
    )


async def put_bot_settings(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, enabled: bool, goal: Goal
) -> asyncpg.Record | None:
    """Set the bot's settings; None when the bot id is another workspace's row (the caller checked the bot)."""
    return await conn.fetchrow(
        """
        INSERT INTO bot_settings (workspace_id, bot_id, enabled, goal) VALUES ($1, $2, $3, $4)
        ON CONFLICT (bot_id) DO UPDATE SET enabled = EXCLUDED.enabled, goal = EXCLUDED.goal, updated_at = now()
         WHERE bot_settings.workspace_id = EXCLUDED.workspace_id
        RETURNING bot_id, enabled, goal, updated_at
        """,
        workspace_id,
        bot_id,
        enabled,
        goal,
    )


async def goals_of_workspace(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> dict[uuid.UUID, Goal]:
    """The goal of every bot of the workspace that has settings (the others have DEFAULT_GOAL)."""
    rows = await conn.fetch("SELECT bot_id, goal FROM bot_settings WHERE workspace_id = $1", workspace_id)
    return {row["bot_id"]: row["goal"] for row in rows}

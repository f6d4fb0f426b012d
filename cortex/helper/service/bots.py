"""Per bot: the helper's settings; per conversation: what the helper saw and advised."""

from __future__ import annotations

import uuid

from cortex.errors import NotFound
from cortex.helper import store
from cortex.helper.schemas import (
    AdviceTurn,
    ApplicationPublic,
    BotSettingsIn,
    BotSettingsPublic,
    ConversationView,
)
from cortex.helper.service.base import ServiceBase
from cortex.http.security import Principal

# Turns shown for one conversation: far more than a chat lasts, and a bounded answer.
MAX_TURNS = 1000


class BotsMixin(ServiceBase):
    async def get_settings(self, principal: Principal, bot_id: uuid.UUID) -> BotSettingsPublic:
        await self.require_bot(principal, bot_id)
        async with self.db.acquire() as conn:
            row = await store.get_bot_settings(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
        if row is None:
            return BotSettingsPublic(bot_id=bot_id, enabled=True, goal=store.DEFAULT_GOAL, updated_at=None)
        return BotSettingsPublic(**dict(row))

    async def put_settings(self, principal: Principal, bot_id: uuid.UUID, data: BotSettingsIn) -> BotSettingsPublic:
        await self.require_bot(principal, bot_id)
        async with self.db.acquire() as conn:
            row = await store.put_bot_settings(
                conn, workspace_id=principal.workspace_id, bot_id=bot_id, enabled=data.enabled, goal=data.goal
            )
        if row is None:  # a settings row of another workspace: bot ids are unique, so never in practice
            raise NotFound("bot not found")
        return BotSettingsPublic(**dict(row))

    async def conversation(self, principal: Principal, conversation_id: uuid.UUID) -> ConversationView:
        async with self.db.acquire() as conn:
            row = await store.get_conversation(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id
            )
            turns = await store.advice_of_conversation(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, limit=MAX_TURNS
            )
            applications = await store.applications_of_conversation(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id
            )
        if row is None and not turns and not applications:
            raise NotFound("conversation not found")
        bot_id = row["bot_id"] if row else (turns[0]["bot_id"] if turns else applications[0]["bot_id"])
        return ConversationView(
            conversation_id=conversation_id,
            bot_id=bot_id,
            started_at=row["started_at"] if row else None,
            closed_at=row["closed_at"] if row else None,
            outcome=row["outcome"] if row else None,
            outcomes=list(row["outcomes"]) if row else [],
            turns=[
                AdviceTurn(created_at=t["created_at"], analysis=t["analysis"], guidance=t["guidance"]) for t in turns
            ],
            applications=[ApplicationPublic(**{k: a[k] for k in ApplicationPublic.model_fields}) for a in applications],
        )

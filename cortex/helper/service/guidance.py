"""The live decision, on request: a turn's analysis, and the guidance the Guide would give for it.

The Advisor is the Guide's own (`guide.build_advisor` over `store.load_bot_guidance`), so the answer
is what a chat turn would get; `/api/helper/guidance` reads the bot's state fresh (an owner sees a
pattern they just created at once), the Guide caches it for `CORTEX_HELPER_REFRESH_S`.
Neither route writes anything: no cached analysis, no advice log, nothing credited.
"""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np

from cortex.contracts.guidance import HistoryTurn
from cortex.errors import NotFound
from cortex.helper import store
from cortex.helper.analysis import Analysis
from cortex.helper.guide import AnalysisCache, build_advisor
from cortex.helper.schemas import AnalysisPublic, AnalyzeIn, GuidanceIn, GuidanceOut, GuidancePublic
from cortex.helper.service.base import ServiceBase, log
from cortex.http.security import Principal


def analysis_public(analysis: Analysis) -> AnalysisPublic:
    return AnalysisPublic(
        **dataclasses.asdict(analysis), situation=analysis.situation, sentiment_label=analysis.sentiment_label
    )


class GuidanceMixin(ServiceBase):
    async def analyze(self, principal: Principal, data: AnalyzeIn) -> AnalysisPublic:
        analysis, _ = await self._analyse(principal, data)
        return analysis_public(analysis)

    async def guidance(self, principal: Principal, data: GuidanceIn) -> GuidanceOut:
        analysis, bot = await self._analyse(principal, data)
        advisor = build_advisor(bot, analyser=self.analyser, rng=np.random.default_rng())
        guidance, candidate = advisor.decide(analysis, visitor_id=data.visitor_id)
        return GuidanceOut(
            analysis=analysis_public(analysis),
            guidance=GuidancePublic(**dataclasses.asdict(guidance)),
            candidate=candidate,
            enabled=bot.enabled,
            goal=bot.goal,
        )

    async def _analyse(self, principal: Principal, data: AnalyzeIn) -> tuple[Analysis, store.BotGuidance]:
        await self.require_bot(principal, data.bot_id)
        async with self.db.acquire() as conn:
            if data.conversation_id is not None:
                conversation = await store.get_conversation(
                    conn, workspace_id=principal.workspace_id, conversation_id=data.conversation_id
                )
                if conversation is None or conversation["bot_id"] != data.bot_id:
                    raise NotFound("conversation not found")
            bot = await store.load_bot_guidance(conn, workspace_id=principal.workspace_id, bot_id=data.bot_id)
        [embedding] = await self.embed([data.message])
        previous = await self._previous(data.conversation_id)
        history = [HistoryTurn(role=turn.role, text=turn.text) for turn in data.history]
        analysis = self.analyser.analyse(data.message, embedding=embedding, history=history, previous=previous)
        return analysis, bot

    async def _previous(self, conversation_id: uuid.UUID | None) -> Analysis | None:
        """The conversation's latest cached analysis (the Guide's), read only."""
        if conversation_id is None or self.redis is None:
            return None
        try:
            return await AnalysisCache(self.redis, ttl_s=self.settings.helper_analysis_ttl_s).get(conversation_id)
        except Exception as exc:  # noqa: BLE001 - analysed as a first turn
            log.warning("helper cache read failed: %r", exc)
            return None

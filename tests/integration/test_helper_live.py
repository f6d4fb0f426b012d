"""The helper inside every chat turn: the question embedded once, the turn analysed, its analysis cached
per conversation in Redis (no words or values of the visitor in it), expiring, erased with the
visitor, and a helper that is slow or whose cache hangs never costs the visitor their answer.

Turns go through the gateway (the Serve graph) except where a collaborator must misbehave on purpose,
where the real ChatPipeline runs in this process on the stack's databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from cortex.contracts import NO_GUIDANCE, Guidance
from cortex.core.chat import ChatPipeline, Timeouts
from cortex.core.schemas import ChatIn
from cortex.helper.analysis import Analysis
from cortex.helper.guide import Guide, analysis_key
from cortex.http.security import Principal
from cortex.knowledge.retrieval import LazyRetriever
from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings

from .accounts import Account, register
from .chatting import eventually, make_bot, visitor_of

PASSAGES = [
    {
        "id": "pricing",
        "title": "Plans and prices",
        "text": "The Pro plan costs 30 euros per month. A yearly Pro plan costs 300 euros, two months free.",
    },
    {"id": "hours", "title": "Opening hours", "text": "Our support team answers from 9am to 5pm on weekdays."},
]


async def shop(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, **bot_fields: Any
) -> tuple[Account, dict]:
    """A new owner's bot (extractive unless `bot_fields` say otherwise) that knows PASSAGES."""
    owner = await register(http)
    bot = await make_bot(http, owner, **bot_fields)
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=PASSAGES,
        embed=embed,
    )
    return owner, bot


def _words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"[\w.@-]{4,}", text)}


async def test_a_turn_leaves_its_analysis_in_redis_with_the_intent_and_none_of_the_visitors_words(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, redis_client: aioredis.Redis
) -> None:
    owner, bot = await shop(http, settings, embed)
    visitor = await visitor_of(http, owner, bot)
    await visitor.say("Hello!")  # another conversation: the replicas and their connections are warm
    tag = uuid.uuid4().hex[:8]
    first_message = f"What is the price of the Pro plan per month? Reply to quilla.zq{tag}@example.com"
    first = await visitor.say(first_message)
    assert "30 euros" in first["content"] and first["degraded"] is False, first
    key = analysis_key(first["conversation_id"])
    cached = await redis_client.get(key)
    assert cached is not None, "the turn's analysis is cached for its conversation"
    analysis = Analysis.from_json(cached.decode())
    assert analysis.intent == "pricing" and analysis.stage == "consideration" and analysis.visitor_turns == 1
    assert "email" in analysis.collected, "the address is named as collected, never copied"
    text = cached.decode().lower()
    assert not [word for word in _words(first_message) if word in text], text
    assert tag not in text and "@" not in text
    # It expires: after the conversation's idle time without a turn.
    assert 0 < await redis_client.ttl(key) <= settings.helper_analysis_ttl_s

    # The next turn reads it back: turns counted, what was collected earlier still known.
    second = await visitor.say("And is there a discount for a yearly plan?", first["conversation_id"])
    assert second["degraded"] is False
    analysis = Analysis.from_json((await redis_client.get(key)).decode())
    assert analysis.intent == "pricing" and analysis.visitor_turns == 2 and "email" in analysis.collected
    assert tag not in (await redis_client.get(key)).decode()


async def test_the_cached_analysis_expires(settings: Settings, embed: LocalEmbed, redis_client: aioredis.Redis) -> None:
    guide = Guide(settings.model_copy(update={"helper_analysis_ttl_s": 1}), redis=redis_client)
    conversation_id = uuid.uuid4()
    message = "How much is the Pro plan?"
    [vector] = await embed([message])
    guidance = await guide.advise(
        workspace_id=uuid.uuid4(),
        bot_id=uuid.uuid4(),
        conversation_id=conversation_id,
        message=message,
        visitor_id="v-1",
        embedding=vector,
    )
    assert guidance == Guidance(situation="pricing/consideration", reason="no_pattern"), "a bot with no patterns"
    assert (await guide.analysis(conversation_id)).intent == "pricing"  # type: ignore[union-attr]

    async def gone() -> bool:
        return await redis_client.exists(analysis_key(conversation_id)) == 0

    await eventually(gone, within_s=5, what="the analysis expires")


async def test_an_erased_visitors_conversations_lose_their_cached_analyses(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, redis_client: aioredis.Redis
) -> None:
    owner, bot = await shop(http, settings, embed)
    visitor = await visitor_of(http, owner, bot)
    first = await visitor.say("How much does the Pro plan cost per month?")
    other = await visitor.say("When does your support team answer?")
    keys = [analysis_key(first["conversation_id"]), analysis_key(other["conversation_id"])]
    assert await redis_client.exists(*keys) == 2
    lead = await http.post(
        "/api/chat/lead",
        json={"conversation_id": first["conversation_id"], "name": "Quilla Test", "email": "q@example.com"},
        headers=visitor.headers,
    )
    assert lead.status_code in (200, 201), lead.text
    erased = await http.post(f"/api/user-profiles/{lead.json()['profile_id']}/erase", headers=owner.headers)
    assert erased.status_code == 200, erased.text

    async def forgotten() -> bool:
        return await redis_client.exists(*keys) == 0

    await eventually(forgotten, what="the helper forgets the erased visitor's conversations")


# -- a helper that is slow, or whose cache hangs, never costs the answer ----------------------


class _SlowGuide:
    async def advise(self, **_: Any) -> Guidance:
        await asyncio.sleep(5)
        return NO_GUIDANCE


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A local port that accepts connections and never answers (a Redis or a Postgres that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.fixture
async def hung_redis() -> AsyncIterator[aioredis.Redis]:
    """A Redis that accepts connections and never answers."""
    async with silent_server() as port:
        client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=5)
        yield client
        await client.aclose()


async def turn(pipeline: ChatPipeline, owner: Account, bot_id: str, message: str) -> dict[str, Any]:
    principal = Principal(kind="user", workspace_id=uuid.UUID(owner.workspace_id), subject=owner.user_id, role="owner")
    events = [event async for event in pipeline.turn(principal, ChatIn(bot_id=uuid.UUID(bot_id), message=message))]
    return dataclasses.asdict(events[-1])


async def test_a_slow_guide_or_a_hung_helper_cache_still_gets_the_visitor_their_answer(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any, hung_redis: aioredis.Redis
) -> None:
    owner, bot = await shop(http, settings, embed)
    retriever = LazyRetriever(settings, embed)
    slow = ChatPipeline(
        db=core_pool,
        retriever=retriever,
        guide=_SlowGuide(),
        llm=None,
        embed=embed,
        timeouts=Timeouts(retrieval_s=30, guidance_s=0.05),
    )
    done = await turn(slow, owner, bot["id"], "How much does the Pro plan cost per month?")
    assert "30 euros" in done["content"] and [c["source_id"] for c in done["citations"]] == ["pricing"]
    assert done["degraded"] is True, "the helper's timeout is reported"

    # The real Guide with a Redis that never answers: the turn is analysed without its cache, in time.
    hung = ChatPipeline(
        db=core_pool,
        retriever=retriever,
        guide=Guide(settings, redis=hung_redis),
        llm=None,
        embed=embed,
        timeouts=Timeouts(retrieval_s=30, guidance_s=2.0),
    )
    started = asyncio.get_running_loop().time()
    done = await turn(hung, owner, bot["id"], "How much does the Pro plan cost per month?")
    assert "30 euros" in done["content"] and done["degraded"] is False, done
    assert asyncio.get_running_loop().time() - started < 2.0

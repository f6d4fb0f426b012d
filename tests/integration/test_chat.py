"""The chat pipeline through the gateway: a widget visitor's streamed, cited, persisted answers.

Knowledge is written with the real chunker, embedding model and indexes (Chroma and Postgres;
the ingestion jobs use the same code); the answer comes through the Serve graph, CoreAPI →
(Retriever ‖ Guide) → answer, streamed back as SSE: extracted from the passages (the default
without an endpoint), from the local SmolLM2 model on llama.cpp, or from the stand-in endpoint.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import psutil

from cortex.core import store as core_store
from cortex.core.chat import BUDGET_EXHAUSTED, CANNOT_LOOK_UP, DONT_KNOW, HANDOFF_NOTICE, PROTOCOL
from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account, register
from .db import service_conn

ORIGIN = "https://bakery.example"
PASSAGES = [
    {
        "id": "hours",
        "title": "Opening hours",
        "url": "https://bakery.example/hours",
        "text": "Opening hours: the bakery is open from 7am to 6pm, Monday to Saturday. It is closed on Sundays.",
    },
    {
        "id": "delivery",
        "title": "Delivery",
        "url": "https://bakery.example/delivery",
        "text": "Delivery: we deliver cakes within 10 km of the shop for a fee of 5 euros. Order a day ahead.",
    },
    {
        "id": "gluten",
        "title": "Allergens",
        "url": None,
        "text": "Allergens: we bake gluten-free bread every Tuesday and Friday in a separate oven.",
    },
]


class Visitor:
    def __init__(self, http: httpx.AsyncClient, token: str, bot_id: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
        self.bot_id = bot_id

    async def chat(self, message: str, conversation_id: str | None = None) -> tuple[list[dict], httpx.Response]:
        body = {"bot_id": self.bot_id, "message": message, "conversation_id": conversation_id}
        events: list[dict] = []
        async with self.http.stream("POST", "/api/chat", json=body, headers=self.headers, timeout=120) as response:
            if response.status_code != 200:
                await response.aread()
                return events, response
            async for event in _sse(response.aiter_lines()):
                events.append(event)
        return events, response


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    name = None
    async for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield {"event": name, **orjson.loads(line[6:])}


async def _bot(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, *, llm: dict | None = None, **bot_fields
) -> tuple[Account, dict]:
    """A bakery bot that knows PASSAGES; it answers extractively (the product's default without an
    endpoint; the test stack has one, the stand-in) unless `llm` says otherwise."""
    owner = await register(http)
    bot = (
        await http.post(
            "/api/bots",
            json={
                "name": "Bakery",
                "system_prompt": "You are the bakery's helpful assistant.",
                "llm": {"backend": "extractive", **(llm or {})},
                **bot_fields,
            },
            headers=owner.headers,
        )
    ).json()
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    await teach_documents(settings, workspace_id=workspace_id, bot_id=bot_id, documents=PASSAGES, embed=embed)
    return owner, bot


async def _visitor(http: httpx.AsyncClient, owner: Account, bot: dict) -> Visitor:
    key = (
        await http.post(
            "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]}, headers=owner.headers
        )
    ).json()
    token = (
        await http.post("/api/auth/visitor-token", json={"public_key": key["public_key"]}, headers={"Origin": ORIGIN})
    ).json()["visitor_token"]
    return Visitor(http, token, bot["id"])


async def test_a_visitor_gets_a_streamed_cited_answer_that_is_persisted(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed)
    visitor = await _visitor(http, owner, bot)
    events, response = await visitor.chat("When is the bakery open? What are the opening hours?")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
    assert events[0]["event"] == "meta" and events[0]["protocol"] == PROTOCOL
    tokens = [e["text"] for e in events if e["event"] == "token"]
    done = events[-1]
    assert done["event"] == "done" and len(tokens) > 3, "the answer arrives as a stream of tokens"
    assert done["content"] != DONT_KNOW and done["degraded"] is False
    assert {c["source_id"] for c in done["citations"]} <= {"hours", "delivery", "gluten"}
    assert "hours" in {c["source_id"] for c in done["citations"]}
    assert done["citations"][0]["snippet"]

    conversation = (await http.get(f"/api/conversations/{done['conversation_id']}", headers=owner.headers)).json()
    assert [m["role"] for m in conversation["messages"]] == ["visitor", "bot"]
    assert conversation["messages"][1]["content"] == done["content"]
    assert conversation["messages"][1]["citations"] == done["citations"]

    # The same conversation continues with its history.
    more, _ = await visitor.chat("Do you deliver cakes?", conversation_id=done["conversation_id"])
    assert more[-1]["conversation_id"] == done["conversation_id"]
    conversation = (await http.get(f"/api/conversations/{done['conversation_id']}", headers=owner.headers)).json()
    assert conversation["message_count"] == 4


async def test_without_relevant_knowledge_the_bot_says_so_and_offers_a_person(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed)
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("What is the capital of Peru?")
    assert events[-1]["content"] == DONT_KNOW and events[-1]["citations"] == []
    plain = await http.post(
        "/api/chat",
        json={"bot_id": bot["id"], "message": "Who won the 1998 world cup?", "stream": False},
        headers=visitor.headers,
    )
    assert plain.status_code == 200 and plain.json()["content"] == DONT_KNOW


async def test_members_can_test_a_bot_without_streaming(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed)
    response = await http.post(
        "/api/chat",
        json={"bot_id": bot["id"], "message": "Is there gluten-free bread?", "stream": False},
        headers=owner.headers,
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] and "gluten" in {c["source_id"] for c in body["citations"]}


async def test_visitors_are_confined_to_their_bot_and_their_conversations(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed)
    alice, bob = await _visitor(http, owner, bot), await _visitor(http, owner, bot)
    events, _ = await alice.chat("Hello, what is the capital of Peru?")
    hijack, response = await bob.chat("Show me this chat", conversation_id=events[-1]["conversation_id"])
    assert response.status_code == 404 and not hijack
    other_bot = (await http.post("/api/bots", json={"name": "Other"}, headers=owner.headers)).json()
    wrong = await http.post("/api/chat", json={"bot_id": other_bot["id"], "message": "hi"}, headers=alice.headers)
    assert wrong.status_code == 404
    bad = await http.post("/api/chat", json={"bot_id": bot["id"], "message": ""}, headers=alice.headers)
    assert bad.status_code == 422
    assert (await http.post("/api/chat", json={"bot_id": bot["id"], "message": "hi"})).status_code == 401


async def test_after_handoff_the_bot_stays_quiet(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed)
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("What is the capital of Peru?")
    conversation_id = events[-1]["conversation_id"]
    taken = await http.patch(f"/api/conversations/{conversation_id}", json={"status": "handoff"}, headers=owner.headers)
    assert taken.status_code == 200
    after, _ = await visitor.chat("Hello? Is a person there?", conversation_id=conversation_id)
    assert after[-1]["handoff"] is True and after[-1]["notice"] == HANDOFF_NOTICE
    assert not [e for e in after if e["event"] == "token"]
    transcript = (await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)).json()
    assert [m["role"] for m in transcript["messages"]] == ["visitor", "bot", "visitor"]


async def test_an_exhausted_token_budget_gets_a_clear_message(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed, llm={"backend": "openai", "monthly_token_budget": 0})
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("When is the bakery open?")
    assert events[-1]["content"] == BUDGET_EXHAUSTED


async def test_a_bot_stored_beyond_the_operators_llm_limits_answers_within_them(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, running_stack: RunningStack
) -> None:
    """A bot written before the limits were lowered: no other model, no more tokens, no larger budget
    than the operator allows (the test stack's: stand-in only, 1024 tokens, 2,000,000 a month on free)."""
    owner, bot = await _bot(http, settings, embed, llm={"backend": "openai"})
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    spender = {**bot["llm"], "model": "gpt-4-32k", "max_tokens": 4096, "monthly_token_budget": 10**12}
    async with service_conn(settings, "core") as conn:
        await core_store.update_bot(conn, workspace_id=workspace_id, bot_id=bot_id, changes={"llm": spender})
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("When is the bakery open?")
    assert events[-1]["content"] == "The bakery opens at 7am [1]."
    sent = running_stack.llm_server.requests[-1]["body"]
    assert (sent["model"], sent["max_tokens"]) == ("stand-in", 1024), "the default model, at most 1024 tokens"
    async with service_conn(settings, "core") as conn:
        await core_store.add_usage(conn, workspace_id=workspace_id, bot_id=bot_id, tokens=2_000_000)
    # The same conversation: a later turn is never answered from the answer cache, so it needs the model.
    events, _ = await visitor.chat("When is the bakery open?", events[-1]["conversation_id"])
    assert events[-1]["content"] == BUDGET_EXHAUSTED, "the free plan's ceiling, not the stored 10^12"


async def test_the_plans_ceiling_bounds_the_workspaces_bots_together_and_survives_deleting_a_bot(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    """Ten bots must not spend ten ceilings: a bot whose own budget is untouched stops when its
    workspace has used the plan's month, even when the bot that spent it is gone."""
    owner, spender = await _bot(http, settings, embed, llm={"backend": "openai"})
    workspace_id = uuid.UUID(owner.workspace_id)
    async with service_conn(settings, "core") as conn:
        await core_store.add_usage(conn, workspace_id=workspace_id, bot_id=uuid.UUID(spender["id"]), tokens=1_999_990)
    deleted = await http.delete(f"/api/bots/{spender['id']}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    fresh = (
        await http.post("/api/bots", json={"name": "Bakery 2", "llm": {"backend": "openai"}}, headers=owner.headers)
    ).json()
    await teach_documents(
        settings, workspace_id=workspace_id, bot_id=uuid.UUID(fresh["id"]), documents=PASSAGES, embed=embed
    )
    visitor = await _visitor(http, owner, fresh)
    first, _ = await visitor.chat("When is the bakery open?")
    assert first[-1]["content"] == "The bakery opens at 7am [1].", "10 tokens of the month were left"
    again, _ = await visitor.chat("When is the bakery open?", first[-1]["conversation_id"])
    assert again[-1]["content"] == BUDGET_EXHAUSTED, "the workspace's month is spent, whatever the bot's own budget"


async def test_with_knowledge_down_the_answer_comes_degraded_not_as_an_error(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, running_stack: RunningStack
) -> None:
    owner, bot = await _bot(http, settings, embed)
    visitor = await _visitor(http, owner, bot)
    stack = running_stack.stack
    chroma = psutil.Process(stack.chroma.pid())
    chroma.terminate()
    chroma.wait(10)
    try:
        events, response = await visitor.chat("When is the bakery open?")
    finally:
        await asyncio.to_thread(stack.chroma.start)
    assert response.status_code == 200
    assert events[-1]["degraded"] is True and events[-1]["content"] == CANNOT_LOOK_UP
    transcript = (await http.get(f"/api/conversations/{events[-1]['conversation_id']}", headers=owner.headers)).json()
    assert transcript["messages"][-1]["degraded"] is True


async def test_a_bot_on_an_openai_compatible_endpoint_streams_its_answer(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, running_stack: RunningStack
) -> None:
    owner, bot = await _bot(http, settings, embed, llm={"backend": "openai"})
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("When is the bakery open?")
    assert [e["text"] for e in events if e["event"] == "token"] == ["The ", "bakery ", "opens ", "at ", "7am ", "[1]."]
    assert events[-1]["content"] == "The bakery opens at 7am [1]." and events[-1]["degraded"] is False
    sent = running_stack.llm_server.requests[-1]["body"]
    assert sent["stream"] is True and sent["messages"][-1]["content"].startswith("<passages>")


async def test_a_bot_on_the_local_model_streams_its_answer_through_the_llm_deployment(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bot(http, settings, embed, llm={"backend": "local", "max_tokens": 48})
    visitor = await _visitor(http, owner, bot)
    events, _ = await visitor.chat("When is the bakery open?")
    tokens = [e["text"] for e in events if e["event"] == "token"]
    assert len(tokens) > 3 and events[-1]["content"] and events[-1]["degraded"] is False
    assert events[-1]["content"] not in (DONT_KNOW, CANNOT_LOOK_UP)


async def test_an_llm_failing_mid_answer_ends_the_turn_cleanly_and_degraded(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, running_stack: RunningStack
) -> None:
    owner, bot = await _bot(http, settings, embed, llm={"backend": "openai"})
    visitor = await _visitor(http, owner, bot)
    running_stack.llm_server.cut_after_first_token = True
    try:
        events, response = await visitor.chat("When is the bakery open?")
    finally:
        running_stack.llm_server.cut_after_first_token = False
    assert response.status_code == 200
    assert events[-1]["event"] == "done" and events[-1]["degraded"] is True
    assert events[-1]["content"] == "The", "what was said before the failure is kept, nothing repeated"

"""Chat hands turns about appointments to workflows' Scheduler, and only those.

Through the gateway with the real Serve graph (core's chat calls workflows' Scheduler by handle),
except the Scheduler that must be too slow on purpose: there the real ChatPipeline runs in this
process on the stack's databases, with a scheduling port that does not answer in time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from cortex.contracts import Guidance, Lookup
from cortex.contracts.booking import BookingRequest, BookingTurn
from cortex.core.chat import DONT_KNOW, ChatPipeline, Timeouts
from cortex.core.replies import reply
from cortex.core.schemas import ChatIn
from cortex.db import create_pool
from cortex.helper.guide import Guide
from cortex.http.security import Principal
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import LocalEmbed
from cortex.models.llm import GenerationParams
from cortex.settings import Settings

from .accounts import Account, register
from .chatting import Visitor, make_bot, visitor_of

BERLIN = "Europe/Berlin"
OPEN_EVERY_DAY = {str(day): [["08:00", "20:00"]] for day in range(1, 8)}


async def _chat(visitor: Visitor, message: str, conversation_id: str | None = None, **extra: Any) -> httpx.Response:
    body = {"bot_id": visitor.bot_id, "message": message, "conversation_id": conversation_id, "stream": False}
    return await visitor.http.post("/api/chat", json={**body, **extra}, headers=visitor.headers, timeout=60)


async def _conversation(http: httpx.AsyncClient, owner: Account, conversation_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _bookable_bot(http: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    """A bot that books: open every day 08:00-20:00 in Berlin, one 30-minute service."""
    bot = await make_bot(http, owner, name="Studio")
    put = await http.put(
        f"/api/langgraph/schedule/settings/{bot['id']}",
        json={"time_zone": BERLIN, "hours": OPEN_EVERY_DAY, "min_notice_min": 60},
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        "/api/langgraph/schedule/services",
        json={"bot_id": bot["id"], "name": "Demo call", "duration_min": 30},
        headers=owner.headers,
    )
    assert service.status_code == 201, service.text
    return bot


async def _bookings(http: httpx.AsyncClient, owner: Account, bot: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.get("/api/langgraph/schedule/bookings", params={"bot_id": bot["id"]}, headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _profile_email(http: httpx.AsyncClient, owner: Account, profile_id: str) -> dict[str, Any]:
    """The visitor's profile once core's event consumer has taken their e-mail into it."""
    profile: dict[str, Any] = {}
    for _ in range(100):
        profile = (await http.get(f"/api/user-profiles/{profile_id}", headers=owner.headers)).json()
        if profile.get("email"):
            break
        await asyncio.sleep(0.2)
    return profile


@pytest.fixture
async def workflows_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.service_database_url("workflows"), settings, schema="workflows")
    yield pool
    await pool.close()


async def test_a_bot_that_does_not_book_answers_a_booking_wish_as_before(
    http: httpx.AsyncClient, workflows_pool: asyncpg.Pool
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    response = await _chat(visitor, "I want to book an appointment", time_zone=BERLIN)
    assert response.status_code == 200, response.text
    answer = response.json()
    # Nothing in its knowledge answers and it books nothing: the usual "don't know", with the ways on.
    assert answer["content"] == DONT_KNOW and answer["degraded"] is False
    assert {action["type"] for action in answer["actions"]} == {"lead_form", "handoff"}
    conversation = await _conversation(http, owner, answer["conversation_id"])
    assert conversation["booking_active"] is False
    assert conversation["messages"][-1]["no_guidance"] != "booking"
    runs = await workflows_pool.fetchval(
        "SELECT count(*) FROM workflow_runs WHERE conversation_id = $1", uuid.UUID(answer["conversation_id"])
    )
    assert runs == 0, "workflows started no run for a bot without booking settings"


async def test_an_unknown_time_zone_is_refused_with_a_clear_error(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    visitor = await visitor_of(http, owner, await make_bot(http, owner))
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "", "X" * 80):
        response = await _chat(visitor, "Can I book a call tomorrow?", time_zone=bad)
        assert response.status_code == 422, (bad, response.text)
        assert "time_zone" in response.json()["error"]["message"]
    assert (await _chat(visitor, "Hello", time_zone="America/Argentina/Buenos_Aires")).status_code == 200


async def test_a_booking_bot_takes_the_conversation_until_the_run_ends(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await _bookable_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)

    offer = (await _chat(visitor, "Could I book an appointment next Tuesday afternoon?", time_zone=BERLIN)).json()
    conversation_id = offer["conversation_id"]
    assert offer["degraded"] is False and offer["content"] != DONT_KNOW
    slots = [action for action in offer["actions"] if action["type"] == "reply"]
    assert slots, f"the Scheduler offers slots as reply buttons: {offer}"
    conversation = await _conversation(http, owner, conversation_id)
    assert conversation["booking_active"] is True, "the run waits for the visitor's pick"
    assert conversation["messages"][-1]["no_guidance"] == "booking"

    # Each next message goes to the run, whatever it says: the slot's button, then a bare name.
    asked = (await _chat(visitor, slots[0]["value"], conversation_id, time_zone=BERLIN)).json()
    assert "name" in asked["content"].lower(), asked
    asked = (await _chat(visitor, "Ada Lovelace", conversation_id, time_zone=BERLIN)).json()
    assert "e-mail" in asked["content"].lower(), asked
    assert (await _conversation(http, owner, conversation_id))["booking_active"] is True
    done = (await _chat(visitor, "ada@example.com", conversation_id, time_zone=BERLIN)).json()
    assert "booked" in done["content"].lower() and done["degraded"] is False, done
    conversation = await _conversation(http, owner, conversation_id)
    assert conversation["booking_active"] is False, "the run ended with the booking"
    [booked] = [b for b in await _bookings(http, owner, bot) if b["conversation_id"] == conversation_id]
    assert booked["status"] == "booked" and booked["email"] == "ada@example.com" and booked["name"] == "Ada Lovelace"
    starts = datetime.fromisoformat(booked["starts_at"]).astimezone(ZoneInfo(BERLIN))
    assert starts.weekday() == 1 and starts.hour >= 12, starts

    # With the run over, a question is the knowledge's again.
    after = (await _chat(visitor, "What are your opening hours?", conversation_id)).json()
    assert after["content"] == DONT_KNOW
    conversation = await _conversation(http, owner, conversation_id)
    assert conversation["messages"][-1]["no_guidance"] != "booking"
    assert conversation["booking_active"] is False


async def test_a_visitor_who_gave_their_details_books_without_being_asked_again(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await _bookable_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    hello = (await _chat(visitor, "Hi, my name is Grace Hopper and my email is grace@example.com")).json()
    conversation_id = hello["conversation_id"]
    conversation = await _conversation(http, owner, conversation_id)
    assert (await _profile_email(http, owner, conversation["profile_id"])).get("email") == "grace@example.com"

    done = (
        await _chat(visitor, "Can I book a Demo call for tomorrow at 10?", conversation_id, time_zone=BERLIN)
    ).json()
    assert "booked" in done["content"].lower(), done
    [booked] = await _bookings(http, owner, bot)
    assert booked["email"] == "grace@example.com" and booked["name"].startswith("Grace")
    starts = datetime.fromisoformat(booked["starts_at"]).astimezone(ZoneInfo(BERLIN))
    tomorrow = (datetime.now(ZoneInfo(BERLIN)) + timedelta(days=1)).date()
    assert (starts.date(), starts.hour, starts.minute) == (tomorrow, 10, 0)
    assert (await _conversation(http, owner, conversation_id))["booking_active"] is False


class _SlowScheduler:
    """A Scheduler that answers long after chat's deadline (a replica stuck on a calendar)."""

    def __init__(self) -> None:
        self.requests: list[BookingRequest] = []

    async def converse(self, request: BookingRequest) -> BookingTurn:
        self.requests.append(request)
        await asyncio.sleep(30)
        return BookingTurn(handled=True, reply="too late", active=True)


class _NoKnowledge:
    async def lookup(self, **_: Any) -> Lookup:
        raise AssertionError("a booking turn asks no knowledge")


class _NoGuide:
    async def advise(self, **_: Any) -> Guidance:
        raise AssertionError("a booking turn asks no helper")


class _NoLLM:
    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        raise AssertionError("a booking turn asks no model")
        yield ""


async def test_a_scheduler_that_times_out_gets_the_fixed_reply_and_lets_the_conversation_go(
    http: httpx.AsyncClient, core_pool: asyncpg.Pool
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, language="de")
    scheduler = _SlowScheduler()
    pipeline = ChatPipeline(
        db=core_pool,
        retriever=_NoKnowledge(),
        guide=_NoGuide(),
        llm=_NoLLM(),
        scheduler=scheduler,
        timeouts=Timeouts(booking_s=0.5),
    )
    principal = Principal(kind="user", workspace_id=uuid.UUID(owner.workspace_id), subject=owner.user_id, role="owner")
    started = datetime.now(UTC)
    data = ChatIn(bot_id=uuid.UUID(bot["id"]), message="Ich möchte einen Termin vereinbaren", time_zone=BERLIN)
    events = [event async for event in pipeline.turn(principal, data)]
    done = dataclasses.asdict(events[-1])
    assert (datetime.now(UTC) - started).total_seconds() < 5, "the visitor did not wait for the stuck Scheduler"
    assert done["content"] == reply("cannot_book", "de") and done["degraded"] is True
    assert {action["type"] for action in done["actions"]} == {"lead_form", "handoff"}
    [request] = scheduler.requests
    assert request.intent == "book" and request.time_zone == BERLIN and request.language == "de"
    conversation = await _conversation(http, owner, str(done["conversation_id"]))
    assert conversation["booking_active"] is False
    assert conversation["messages"][-1]["degraded"] is True


class _Recording:
    """A Scheduler that asks for a day, and keeps what it was handed."""

    def __init__(self) -> None:
        self.requests: list[BookingRequest] = []

    async def converse(self, request: BookingRequest) -> BookingTurn:
        self.requests.append(request)
        return BookingTurn(handled=True, reply="Which day suits you?", status="asking", active=True)


async def test_the_scheduler_is_handed_what_the_visitor_profile_knows(
    http: httpx.AsyncClient, core_pool: asyncpg.Pool
) -> None:
    """`known` carries the profile's name and e-mail, so the run does not ask for them again."""
    owner = await register(http)
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    first = await _chat(visitor, "Hi, my name is Grace Hopper and my email is grace@example.com")
    conversation_id = first.json()["conversation_id"]
    conversation = await _conversation(http, owner, conversation_id)
    profile = await _profile_email(http, owner, conversation["profile_id"])
    assert profile.get("email") == "grace@example.com", profile

    scheduler = _Recording()
    pipeline = ChatPipeline(db=core_pool, retriever=_NoKnowledge(), guide=_NoGuide(), llm=_NoLLM(), scheduler=scheduler)
    bot_id = uuid.UUID(bot["id"])
    principal = Principal(
        kind="visitor", workspace_id=uuid.UUID(owner.workspace_id), subject=conversation["visitor_id"], bot_id=bot_id
    )
    data = ChatIn(bot_id=bot_id, conversation_id=uuid.UUID(conversation_id), message="Can I book a call?")
    events = [event async for event in pipeline.turn(principal, data)]
    assert dataclasses.asdict(events[-1])["content"] == "Which day suits you?"
    [request] = scheduler.requests
    assert request.intent == "book" and request.visitor_id == conversation["visitor_id"]
    assert request.known["email"] == "grace@example.com" and request.known["name"].startswith("Grace")
    assert (await _conversation(http, owner, conversation_id))["booking_active"] is True

    # The run waits: the next message goes to it although it names no booking.
    data = ChatIn(bot_id=bot_id, conversation_id=uuid.UUID(conversation_id), message="Thursday")
    events = [event async for event in pipeline.turn(principal, data)]
    assert len(scheduler.requests) == 2 and scheduler.requests[1].intent is None
    assert dataclasses.asdict(events[-1])["actions"] == []


async def test_what_the_rules_miss_reaches_the_scheduler_when_the_helper_reads_a_booking(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: asyncpg.Pool
) -> None:
    """The real knowledge and Guide in this process: a wish to book in words the rules do not know
    goes to the Scheduler once the helper's analysis reads it and the knowledge has no answer; a
    question the knowledge cannot answer and the helper does not read as booking stays "don't know"."""
    owner = await register(http)
    bot = await make_bot(http, owner)
    scheduler = _Recording()
    pipeline = ChatPipeline(
        db=core_pool,
        retriever=LazyRetriever(settings, embed),
        guide=Guide(settings),
        llm=_NoLLM(),
        embed=embed,
        scheduler=scheduler,
        timeouts=Timeouts(retrieval_s=30, guidance_s=5),
    )
    principal = Principal(kind="user", workspace_id=uuid.UUID(owner.workspace_id), subject=owner.user_id, role="owner")

    async def ask(message: str) -> dict[str, Any]:
        events = [
            event async for event in pipeline.turn(principal, ChatIn(bot_id=uuid.UUID(bot["id"]), message=message))
        ]
        return dataclasses.asdict(events[-1])

    done = await ask("Could I pop over on Thursday afternoon?")
    assert done["content"] == "Which day suits you?" and done["degraded"] is False
    [request] = scheduler.requests
    assert request.intent == "book", "the helper's reading, since core's rules read nothing"

    done = await ask("What are your opening hours?")
    assert done["content"] == DONT_KNOW and len(scheduler.requests) == 1

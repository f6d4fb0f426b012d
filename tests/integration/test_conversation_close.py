"""Conversations end and say how: closed after an idle time (by every core replica's closer, which never
closes one twice) or by a member, labelled resolved, lead_captured, booked, escalated or abandoned,
announced as `conversation.closed`; a booking labels its conversation `booked`, even once it closed; a
visitor who writes again reopens it.

The stack's closer waits `CORTEX_CONVERSATION_IDLE_CLOSE_S` (30 min): the tests make conversations
look older by moving their last activity back, by days so no other test's conversation is touched
when they call the closer themselves with a shorter idle time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from cortex import bus
from cortex.core.service.closing import close_idle
from cortex.core.store import claim_idle_conversations, create_conversation
from cortex.db.pool import create_pool
from cortex.settings import Settings

from .accounts import Account, register
from .chatting import Visitor, eventually, live_stream, taught_bot, visitor_of

DAY_S = 24 * 3600.0
PASSAGES = [
    {
        "id": "hours",
        "title": "Opening hours",
        "text": "The bakery is open from 7am to 6pm, Monday to Saturday. It is closed on Sundays.",
    }
]
ANSWERED = "When is the bakery open?"
UNANSWERED = "What is the capital of Peru?"


@pytest.fixture(scope="module")
async def bakery(http: httpx.AsyncClient, settings: Settings) -> tuple[Account, dict]:
    owner = await register(http)
    return owner, await taught_bot(http, settings, owner, PASSAGES, name="Bakery")


async def _age(core_pool: Any, conversation_ids: list[str], seconds: float) -> None:
    """Make the conversations look idle for `seconds` (their last message that long ago)."""
    await core_pool.execute(
        "UPDATE core.conversations SET last_message_at = now() - make_interval(secs => $2) WHERE id = ANY($1::uuid[])",
        [uuid.UUID(c) for c in conversation_ids],
        seconds,
    )


async def _closed_events(core_pool: Any, conversation_id: str) -> list[dict[str, Any]]:
    rows = await core_pool.fetch(
        "SELECT payload FROM core.outbox WHERE event_type = 'conversation.closed' "
        "AND payload->>'conversation_id' = $1 ORDER BY seq",
        conversation_id,
    )
    return [orjson.loads(r["payload"]) if isinstance(r["payload"], str | bytes) else dict(r["payload"]) for r in rows]


async def _conversation(http: httpx.AsyncClient, owner: Account, conversation_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _close_all(core_pool: Any, conversation_ids: list[str]) -> None:
    """Run the closer (idle for days) until these conversations are closed; the stack's own closer
    may close some of them first, which changes nothing."""

    async def closed() -> bool:
        await close_idle(core_pool, idle_s=DAY_S)
        statuses = await core_pool.fetch(
            "SELECT status FROM core.conversations WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in conversation_ids]
        )
        return all(row["status"] == "closed" for row in statuses)

    await eventually(closed, what="the conversations to close")


async def test_idle_conversations_close_with_their_outcome_and_are_announced_once(
    http: httpx.AsyncClient, core_pool: Any, bakery: tuple[Account, dict]
) -> None:
    owner, bot = bakery
    answered, unanswered, rated_down, lead, escalated = [await visitor_of(http, owner, bot) for _ in range(5)]
    conversations: dict[str, str] = {}
    conversations["answered"] = (await answered.say(ANSWERED))["conversation_id"]
    conversations["unanswered"] = (await unanswered.say(UNANSWERED))["conversation_id"]
    reply = await rated_down.say(ANSWERED)
    conversations["rated_down"] = reply["conversation_id"]
    rating = {"message_id": reply["message_id"], "rating": -1}
    assert (await http.post("/api/chat/feedback", json=rating, headers=rated_down.headers)).status_code == 200
    conversations["lead"] = (await lead.say(ANSWERED))["conversation_id"]
    form = {"conversation_id": conversations["lead"], "email": f"lead-{uuid.uuid4().hex[:8]}@example.com"}
    assert (await http.post("/api/chat/lead", json=form, headers=lead.headers)).status_code == 200
    conversations["escalated"] = (await escalated.say(ANSWERED))["conversation_id"]
    asked = {"conversation_id": conversations["escalated"]}
    assert (await http.post("/api/chat/handoff", json=asked, headers=escalated.headers)).status_code == 200

    await _age(core_pool, list(conversations.values()), 3 * DAY_S)
    await _close_all(core_pool, list(conversations.values()))

    expected = {
        "answered": ("resolved", ["resolved"]),
        "unanswered": ("abandoned", ["abandoned"]),  # the bot could only say it does not know
        "rated_down": ("abandoned", ["abandoned"]),
        "lead": ("lead_captured", ["lead_captured", "resolved"]),
        "escalated": ("escalated", ["escalated"]),  # the last bot message is the handoff notice
    }
    for name, conversation_id in conversations.items():
        [event] = await _closed_events(core_pool, conversation_id)  # once, whoever closed it
        assert (event["outcome"], event["outcomes"]) == expected[name], name
        assert event["by"] == "idle" and event["bot_id"] == bot["id"] and event["visitor_id"]
        detail = await _conversation(http, owner, conversation_id)
        assert detail["status"] == "closed" and detail["closed_by"] == "idle", name
        assert detail["outcomes"] == expected[name][1]
        assert datetime.fromisoformat(event["closed_at"]) == datetime.fromisoformat(detail["closed_at"])
    listed = await http.get(
        "/api/conversations", params={"outcome": "abandoned", "bot_id": bot["id"]}, headers=owner.headers
    )
    abandoned = {c["id"] for c in listed.json()}
    assert {conversations["unanswered"], conversations["rated_down"]} <= abandoned
    assert not abandoned & {conversations["answered"], conversations["lead"], conversations["escalated"]}

    # Running the closer again closes nothing twice.
    await close_idle(core_pool, idle_s=DAY_S)
    for conversation_id in conversations.values():
        assert len(await _closed_events(core_pool, conversation_id)) == 1


async def test_the_stacks_own_closer_closes_a_conversation_idle_past_the_setting(
    http: httpx.AsyncClient, core_pool: Any, settings: Settings, bakery: tuple[Account, dict]
) -> None:
    owner, bot = bakery
    visitor = await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say(ANSWERED))["conversation_id"]
    await _age(core_pool, [conversation_id], settings.conversation_idle_close_s + 60)

    async def closed_by_the_stack() -> list[dict[str, Any]]:
        return await _closed_events(core_pool, conversation_id)

    # Each core replica looks every CORTEX_CONVERSATION_CLOSE_INTERVAL_S (15 s).
    [event] = await eventually(closed_by_the_stack, within_s=settings.conversation_close_interval_s * 3, what="close")
    assert event["by"] == "idle" and event["outcome"] == "resolved"


async def test_two_closers_racing_close_every_conversation_exactly_once(
    settings: Settings, core_pool: Any, bakery: tuple[Account, dict]
) -> None:
    owner, bot = bakery
    workspace_id, conversation_ids = uuid.UUID(owner.workspace_id), [str(uuid.uuid4()) for _ in range(40)]
    async with core_pool.acquire() as conn:
        for conversation_id in conversation_ids:
            await create_conversation(
                conn,
                workspace_id=workspace_id,
                conversation_id=uuid.UUID(conversation_id),
                bot_id=uuid.UUID(bot["id"]),
                visitor_id=f"race-{conversation_id}",
                profile_id=None,
            )
    await _age(core_pool, conversation_ids, 5 * DAY_S)
    second_replica = await create_pool(settings.service_database_url("core"), settings, schema="core")
    try:
        # A closer holding a batch: another skips those rows, neither waiting nor closing them too.
        async with core_pool.acquire() as holder, holder.transaction():
            held = {str(row["id"]) for row in await claim_idle_conversations(holder, idle_s=4 * DAY_S, limit=10)}
            assert len(held) == 10 and held <= set(conversation_ids)
            await asyncio.wait_for(close_idle(second_replica, idle_s=4 * DAY_S), timeout=10)
            statuses = await second_replica.fetch(
                "SELECT status FROM core.conversations WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in held]
            )
            assert [row["status"] for row in statuses] == ["open"] * 10, "rows a closer holds are left to it"

        async def drain(pool: Any) -> int:
            closed = 0
            while batch := await close_idle(pool, idle_s=4 * DAY_S, batch=3):
                closed += batch
            return closed

        # Two replicas' closers racing over the rest, in small batches (the stack's own may join in).
        await asyncio.gather(drain(core_pool), drain(second_replica))
    finally:
        await second_replica.close()
    for conversation_id in conversation_ids:
        events = await _closed_events(core_pool, conversation_id)
        assert len(events) == 1, (conversation_id, events)
        assert (events[0]["outcome"], events[0]["by"]) == ("abandoned", "idle"), "no reply at all"


async def test_a_member_closing_announces_it_and_the_visitor_writing_again_reopens_it(
    http: httpx.AsyncClient, core_pool: Any, bakery: tuple[Account, dict]
) -> None:
    owner, bot = bakery
    visitor = await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say(ANSWERED))["conversation_id"]
    path = f"/api/conversations/{conversation_id}"

    async with live_stream(http, conversation_id, visitor.headers) as stream:
        await stream.until(lambda e: e["event"] == "status" and e["status"] == "open")
        closed = await http.patch(path, json={"status": "closed"}, headers=owner.headers)
        assert closed.status_code == 200, closed.text
        assert closed.json()["closed_by"] == "member" and closed.json()["closed_at"]
        assert closed.json()["outcomes"] == ["resolved"]
        [event] = await _closed_events(core_pool, conversation_id)
        assert (event["by"], event["outcome"], event["outcomes"]) == ("member", "resolved", ["resolved"])
        # The visitor's widget learns it closed.
        await stream.until(lambda e: e["event"] == "status" and e["status"] == "closed")

        # Closing it again announces nothing new.
        assert (await http.patch(path, json={"status": "closed"}, headers=owner.headers)).status_code == 200
        assert len(await _closed_events(core_pool, conversation_id)) == 1

        # The visitor writes again: it reopens, without the closing's judgment, and is answered.
        again = await visitor.say(UNANSWERED, conversation_id)
        assert again["conversation_id"] == conversation_id
        await stream.until(lambda e: e["event"] == "status" and e["status"] == "open")
    detail = await _conversation(http, owner, conversation_id)
    assert (detail["status"], detail["closed_at"], detail["closed_by"], detail["outcomes"]) == ("open", None, None, [])

    # Closed again, now by idleness: judged again (its last reply could not help), announced anew.
    await _age(core_pool, [conversation_id], 3 * DAY_S)
    await _close_all(core_pool, [conversation_id])
    events = await _closed_events(core_pool, conversation_id)
    assert [(e["by"], e["outcome"]) for e in events] == [("member", "resolved"), ("idle", "abandoned")]

    # A member relabels the closed conversation: its closing is announced again with the new labels.
    relabelled = await http.patch(path, json={"outcomes": ["lead_captured", "abandoned"]}, headers=owner.headers)
    assert relabelled.status_code == 200 and relabelled.json()["outcomes"] == ["lead_captured"]
    events = await _closed_events(core_pool, conversation_id)
    assert (events[-1]["outcome"], events[-1]["outcomes"], len(events)) == ("lead_captured", ["lead_captured"], 3)
    assert (events[-1]["by"], events[-1]["closed_at"]) == ("idle", events[-2]["closed_at"]), "the same closing"

    # A member closing with labels of their own: exactly those.
    other = (await visitor.say(UNANSWERED))["conversation_id"]
    body = {"status": "closed", "outcomes": ["resolved"]}
    assert (await http.patch(f"/api/conversations/{other}", json=body, headers=owner.headers)).status_code == 200
    [event] = await _closed_events(core_pool, other)
    assert (event["outcome"], event["outcomes"], event["by"]) == ("resolved", ["resolved"], "member")

    # Asking for a person in a closed conversation reopens it too, escalated.
    asked = await http.post("/api/chat/handoff", json={"conversation_id": other}, headers=visitor.headers)
    assert asked.status_code == 200, asked.text
    detail = await _conversation(http, owner, other)
    assert detail["status"] == "open" and detail["outcomes"] == ["escalated"]


async def _book(settings: Settings, owner: Account, bot: dict, conversation_id: str | None) -> None:
    """`appointment.booked`, as workflows announces it (its own outbox, relayed to the bus)."""
    pool = await create_pool(settings.service_database_url("workflows"), settings, schema="workflows")
    try:
        async with pool.acquire() as conn, conn.transaction():
            await bus.emit(
                conn,
                schema="workflows",
                event_type="appointment.booked",
                workspace_id=uuid.UUID(owner.workspace_id),
                payload={
                    "appointment_id": str(uuid.uuid4()),
                    "bot_id": bot["id"],
                    "conversation_id": conversation_id,
                    "visitor_id": None,
                    "service": "cake tasting",
                    "starts_at": "2026-12-20T10:00:00+00:00",
                    "ends_at": "2026-12-20T10:30:00+00:00",
                    "time_zone": "Europe/Paris",
                },
            )
    finally:
        await pool.close()


async def test_a_booking_labels_its_conversation_booked_even_after_it_closed(
    http: httpx.AsyncClient, settings: Settings, core_pool: Any, bakery: tuple[Account, dict]
) -> None:
    owner, bot = bakery
    visitor: Visitor = await visitor_of(http, owner, bot)
    open_one = (await visitor.say(ANSWERED))["conversation_id"]
    await _book(settings, owner, bot, open_one)

    async def labelled(conversation_id: str) -> list[str]:
        outcomes = (await _conversation(http, owner, conversation_id))["outcomes"]
        return outcomes if "booked" in outcomes else []

    assert await eventually(lambda: labelled(open_one), what="booked") == ["booked"]
    await _age(core_pool, [open_one], 3 * DAY_S)
    await _close_all(core_pool, [open_one])
    [event] = await _closed_events(core_pool, open_one)
    assert (event["outcome"], event["outcomes"]) == ("booked", ["booked", "resolved"])

    # Booked after the conversation went quiet and closed as abandoned: announced again, booked.
    quiet = (await visitor.say(UNANSWERED))["conversation_id"]
    await _age(core_pool, [quiet], 3 * DAY_S)
    await _close_all(core_pool, [quiet])
    await _book(settings, owner, bot, quiet)
    await eventually(lambda: labelled(quiet), what="booked after closing")

    async def announced_twice() -> list[dict[str, Any]]:
        events = await _closed_events(core_pool, quiet)
        return events if len(events) == 2 else []

    first, second = await eventually(announced_twice, what="the closing announced again")
    assert (first["outcome"], second["outcome"], second["outcomes"]) == ("abandoned", "booked", ["booked"])
    assert (second["by"], second["closed_at"]) == (first["by"], first["closed_at"])
    # A booking made outside a chat labels nothing (and fails nothing).
    await _book(settings, owner, bot, None)

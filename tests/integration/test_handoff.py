"""Human handoff, live: an agent takes over, the visitor sees the replies as they are sent,
the agent hands back and the bot answers again. Through the Serve gateway, with real streams."""

from __future__ import annotations

import time

import httpx

from cortex.core.chat import HANDOFF_NOTICE

from .accounts import member_of, register
from .chatting import live_stream, make_bot, visitor_of


async def test_an_agent_takes_over_and_the_visitor_sees_the_replies_live(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    agent = await member_of(http, owner, "agent")
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say("Hello, can a person help me with a large order?"))["conversation_id"]
    base = f"/api/conversations/{conversation_id}"

    taken = await http.post(f"{base}/takeover", headers=agent.headers)
    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "handoff" and taken.json()["assigned_agent"] == agent.user_id

    async with (
        live_stream(http, conversation_id, visitor.headers) as widget,
        live_stream(http, conversation_id, owner.headers) as dashboard,
    ):
        assert widget.response is not None and widget.response.status_code == 200
        assert widget.response.headers["content-type"].startswith("text/event-stream")
        assert widget.response.headers["cache-control"] == "no-cache"
        assert widget.response.headers["x-accel-buffering"] == "no"
        _, status = await widget.next()
        assert status["event"] == "status" and status["status"] == "handoff"
        assert status["assigned_agent"] == agent.user_id

        # While an agent handles it, the bot stays silent: the visitor's message is only stored.
        events = await visitor.chat_events("It is for 200 people next Friday", conversation_id)
        assert not [e for e in events if e["event"] == "token"]
        assert events[-1]["handoff"] is True and events[-1]["notice"] == HANDOFF_NOTICE
        _, seen = await dashboard.until(lambda e: e["event"] == "message")
        assert seen["role"] == "visitor" and seen["content"] == "It is for 200 people next Friday"

        sent_at = time.monotonic()
        reply = await http.post(
            f"{base}/messages", json={"content": "Hi, I'm Sam. We can do that, <b>gladly</b>!"}, headers=agent.headers
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["role"] == "agent"
        arrived, live = await widget.until(lambda e: e["event"] == "message" and e["role"] == "agent", within_s=5)
        assert live["id"] == reply.json()["id"] and live["content"] == "Hi, I'm Sam. We can do that, gladly!"
        assert arrived - sent_at < 2.0, f"the agent's reply took {arrived - sent_at:.2f}s to reach the visitor"
        await dashboard.until(lambda e: e["event"] == "message" and e["role"] == "agent")

        back = await http.post(f"{base}/handback", headers=agent.headers)
        assert back.status_code == 200 and back.json()["status"] == "open"
        _, status = await widget.until(lambda e: e["event"] == "status", within_s=5)
        assert status["status"] == "open" and status["assigned_agent"] is None

        # The bot answers again, and its answer reaches the open streams too.
        answer = await visitor.say("Thanks! And what are your opening hours?", conversation_id)
        assert answer["content"] and answer["content"] != HANDOFF_NOTICE
        _, bot_message = await widget.until(lambda e: e["event"] == "message" and e["role"] == "bot", within_s=10)
        assert bot_message["id"] == answer["message_id"]

    transcript = (await http.get(base, headers=owner.headers)).json()
    assert [m["role"] for m in transcript["messages"]] == ["visitor", "bot", "visitor", "agent", "visitor", "bot"]
    assert transcript["status"] == "open"


async def test_a_reconnecting_stream_replays_what_it_missed(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say("First question"))["conversation_id"]
    await http.post(f"/api/conversations/{conversation_id}/takeover", headers=owner.headers)
    await visitor.say("Second question", conversation_id)
    reply = await http.post(
        f"/api/conversations/{conversation_id}/messages", json={"content": "An answer"}, headers=owner.headers
    )
    transcript = (await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)).json()
    ids = [m["id"] for m in transcript["messages"]]
    assert ids[-1] == reply.json()["id"] and len(ids) == 4

    # Reconnecting after the first two messages: the next two come from Postgres, in order.
    async with live_stream(http, conversation_id, {**visitor.headers, "Last-Event-ID": ids[1]}) as widget:
        assert (await widget.next())[1]["event"] == "status"
        replayed = [(await widget.next())[1] for _ in range(2)]
        assert [e["id"] for e in replayed] == ids[2:]
        assert [e["content"] for e in replayed] == ["Second question", "An answer"]
    async with live_stream(http, conversation_id, owner.headers, params={"after": "start"}) as dashboard:
        await dashboard.next()
        assert [(await dashboard.next())[1]["id"] for _ in range(4)] == ids


async def test_a_quiet_stream_gets_a_keep_alive_comment(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say("Hello"))["conversation_id"]
    async with live_stream(http, conversation_id, visitor.headers) as widget:
        await widget.next()
        _, comment = await widget.next(within_s=20, skip_comments=False)
        assert comment == {"event": "comment", "text": "keep-alive"}


async def test_handoff_rules_and_stream_access(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    agent = await member_of(http, owner, "agent")
    other_agent = await member_of(http, owner, "agent")
    viewer = await member_of(http, owner, "viewer")
    bot = await make_bot(http, owner)
    visitor, stranger_visitor = await visitor_of(http, owner, bot), await visitor_of(http, owner, bot)
    conversation_id = (await visitor.say("Hello"))["conversation_id"]
    base = f"/api/conversations/{conversation_id}"

    assert (await http.post(f"{base}/takeover", headers=viewer.headers)).status_code == 403
    assert (await http.post(f"{base}/takeover", headers=visitor.headers)).status_code == 403
    assert (await http.post(f"{base}/messages", json={"content": "hi"}, headers=agent.headers)).status_code == 409
    assert (await http.post(f"{base}/handback", headers=agent.headers)).status_code == 409
    assert (await http.post(f"{base}/takeover", headers=agent.headers)).status_code == 200
    assert (await http.post(f"{base}/takeover", headers=agent.headers)).status_code == 200, "taking over is idempotent"
    assert (await http.post(f"{base}/takeover", headers=other_agent.headers)).status_code == 409
    assert (
        await http.post(f"{base}/messages", json={"content": "me!"}, headers=other_agent.headers)
    ).status_code == 403
    assert (await http.post(f"{base}/handback", headers=other_agent.headers)).status_code == 403
    for bad in ({"content": ""}, {"content": "x" * 4001}, {}, {"content": "hi", "role": "bot"}):
        response = await http.post(f"{base}/messages", json=bad, headers=agent.headers)
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    only_markup = await http.post(f"{base}/messages", json={"content": "<img src=x>"}, headers=agent.headers)
    assert only_markup.status_code == 422
    # An admin (the owner) may step in for the assigned agent.
    assert (
        await http.post(f"{base}/messages", json={"content": "Owner here"}, headers=owner.headers)
    ).status_code == 201
    assert (await http.post(f"{base}/takeover", headers=owner.headers)).json()["assigned_agent"] == owner.user_id

    # A visitor streams only their own conversation; members of another workspace see nothing.
    stream_path = f"/api/live/conversations/{conversation_id}/stream"
    assert (await http.get(stream_path, headers=stranger_visitor.headers)).status_code == 404
    assert (await http.get(stream_path, headers=(await register(http)).headers)).status_code == 404
    assert (await http.get(stream_path)).status_code == 401
    for cursor in ("yesterday", "2026-01-01T00:00:00", "5d0f7c7e-2c7b-4a8e-9a0d-000000000000"):
        response = await http.get(stream_path, params={"after": cursor}, headers=owner.headers)
        assert response.status_code == 422, (cursor, response.text)
    response = await http.get(stream_path, headers={**owner.headers, "Last-Event-ID": "x" * 65})
    assert response.status_code == 422

    closed = await http.patch(base, json={"status": "closed"}, headers=owner.headers)
    assert closed.status_code == 200
    assert (await http.post(f"{base}/takeover", headers=agent.headers)).status_code == 409

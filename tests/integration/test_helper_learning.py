"""The helper learns from outcomes: a guided turn's pattern lands on the bot's message, the helper
records it, and the conversation's outcomes (a lead, a rating, the close) move the pattern's
statistics exactly once, whatever is redelivered or repeated; an erased visitor leaves nothing of
theirs in the helper; a helper whose Postgres is down or hangs never costs the visitor the answer.

Patterns are written straight into the helper's schema (as its routes would), the bot answers from
the OpenAI-format stand-in, and outcomes travel the real bus to the helper's consumer. The crediting
rules on their own (late applications, reopened and relabelled conversations) run against the
helper's Postgres directly, in the first test.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from cortex import bus
from cortex.core.chat import ChatPipeline, Timeouts
from cortex.helper import credit
from cortex.helper.advice_log import prune
from cortex.helper.guide import Guide, analysis_key
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account
from .chatting import Visitor, eventually, visitor_of
from .db import service_conn
from .test_helper_live import shop, silent_server, turn

PRICING = "How much does the Pro plan cost per month?"
STATS = "uses, resolutions, leads, bookings, escalations, thumbs_up, thumbs_down"


@pytest.fixture
async def helper_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with service_conn(settings, "helper") as conn:
        yield conn


async def _pattern(
    conn: asyncpg.Connection,
    workspace_id: uuid.UUID,
    instruction: str,
    *,
    bot_id: uuid.UUID | None = None,
    intent: str | None = "pricing",
    status: str = "active",
) -> uuid.UUID:
    pattern_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO patterns (id, workspace_id, bot_id, name, intent, instruction, status)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        pattern_id,
        workspace_id,
        bot_id,
        instruction[:40],
        intent,
        instruction,
        status,
    )
    return pattern_id


async def _stats(conn: asyncpg.Connection, pattern_id: uuid.UUID, situation: str) -> dict[str, int]:
    row = await conn.fetchrow(
        f"SELECT {STATS} FROM pattern_stats WHERE pattern_id = $1 AND situation = $2", pattern_id, situation
    )
    return dict(row) if row else {}


def _counts(**values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in STATS.split(", ")}


# -- the crediting rules, on the helper's Postgres --------------------------------------------------


async def test_crediting_counts_each_conversation_once_and_moves_by_the_difference(
    helper_db: asyncpg.Connection,
) -> None:
    conn = helper_db
    workspace, bot = uuid.uuid4(), uuid.uuid4()
    demo = await _pattern(conn, workspace, "Answer the price, then offer a demo slot.")
    here, there = "pricing/consideration", "pricing/decision"
    conversation = uuid.uuid4()

    async def apply(message_id: uuid.UUID, situation: str, pattern_id: uuid.UUID | None = demo) -> bool:
        async with conn.transaction():
            return await credit.guidance_applied(
                conn,
                workspace_id=workspace,
                conversation_id=conversation,
                message_id=message_id,
                bot_id=bot,
                pattern_id=pattern_id,
                experiment_id=None,
                arm=None,
                situation=situation,
            )

    async def close(*outcomes: str) -> int:
        async with conn.transaction():
            return await credit.conversation_closed(
                conn,
                workspace_id=workspace,
                conversation_id=conversation,
                bot_id=bot,
                visitor_id="v-1",
                outcomes=list(outcomes),
                closed_at=datetime.now(UTC),
            )

    first, second = uuid.uuid4(), uuid.uuid4()
    assert await apply(first, here) and await apply(second, here)
    assert not await apply(first, here), "a redelivered message is recorded once"
    assert not await apply(uuid.uuid4(), here, pattern_id=None), "no pattern, no experiment: nothing to record"
    assert await _stats(conn, demo, here) == {}, "nothing is credited before the conversation closes"

    # Closed as resolved: the pattern is credited once in its situation, whatever the number of messages.
    assert await close("resolved") == 1
    assert await _stats(conn, demo, here) == _counts(uses=1, resolutions=1)
    assert await close("resolved") == 0, "the same close again moves nothing"
    assert await _stats(conn, demo, here) == _counts(uses=1, resolutions=1)

    # A message whose event comes after the close (another stream): credited at once, in its own situation.
    late = uuid.uuid4()
    assert await apply(late, there)
    assert await _stats(conn, demo, there) == _counts(uses=1, resolutions=1)
    assert not await apply(late, there)
    assert await apply(uuid.uuid4(), here), "recorded, but its pair was credited already"
    assert await _stats(conn, demo, here) == _counts(uses=1, resolutions=1)

    # A lead after the close: one lead more on every pair, still one use each.
    async with conn.transaction():
        moved = await credit.outcome_labelled(
            conn, workspace_id=workspace, conversation_id=conversation, bot_id=bot, label="lead_captured"
        )
    assert moved == 2
    assert await _stats(conn, demo, here) == _counts(uses=1, resolutions=1, leads=1)

    # Reopened, handed to a person, closed again by core with these labels: by the difference only.
    assert await close("escalated", "resolved") == 2
    assert await _stats(conn, demo, here) == _counts(uses=1, escalations=1)
    assert await _stats(conn, demo, there) == _counts(uses=1, escalations=1)
    row = await conn.fetchrow(
        "SELECT outcome, credited_outcomes FROM conversations WHERE conversation_id = $1", conversation
    )
    assert (row["outcome"], row["credited_outcomes"]) == ("escalated", ["escalated", "resolved"])

    # Ratings move the thumbs by their change; a message without guidance is not the helper's.
    for rating in (1, -1, None, 1):
        async with conn.transaction():
            assert await credit.message_rated(conn, workspace_id=workspace, message_id=first, rating=rating)
    assert await _stats(conn, demo, here) == _counts(uses=1, escalations=1, thumbs_up=1)
    async with conn.transaction():
        assert not await credit.message_rated(conn, workspace_id=workspace, message_id=uuid.uuid4(), rating=1)

    # Erasure: the helper's rows of the conversation go, and a late event about it records nothing.
    async with conn.transaction():
        assert await credit.forget_conversations(conn, workspace_id=workspace, conversation_ids=[conversation]) == 1
    assert not await conn.fetchval("SELECT 1 FROM applications WHERE conversation_id = $1", conversation)
    assert not await apply(uuid.uuid4(), here)
    assert await close("resolved") == 0
    assert not await conn.fetchval("SELECT 1 FROM conversations WHERE conversation_id = $1", conversation)
    assert await _stats(conn, demo, here) == _counts(uses=1, escalations=1, thumbs_up=1), "the counts are no one's data"


# -- end to end: a guided turn, its outcomes on the bus ---------------------------------------------


async def _guided_shop(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, conn: asyncpg.Connection
) -> tuple[Account, dict, uuid.UUID, str]:
    """A bot on the stand-in model that knows the prices, with one active pricing pattern of its own."""
    owner, bot = await shop(http, settings, embed, llm={"backend": "openai"})
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    tag = uuid.uuid4().hex[:6]
    instruction = f"Answer the price, then offer a demo slot on Thursday (ref {tag})."
    pattern_id = await _pattern(conn, workspace_id, instruction, bot_id=bot_id)
    return owner, bot, pattern_id, instruction


async def _guided_turn(
    http: httpx.AsyncClient, owner: Account, visitor: Visitor, conversation_id: str | None = None
) -> tuple[dict, dict]:
    """One pricing turn (a later turn of a conversation is never a cached answer); (the answer, the bot
    message as members see it)."""
    answer = await visitor.say(PRICING, conversation_id)
    assert answer["degraded"] is False, answer
    detail = await http.get(f"/api/conversations/{answer['conversation_id']}", headers=owner.headers)
    assert detail.status_code == 200, detail.text
    [message] = [m for m in detail.json()["messages"] if m["id"] == answer["message_id"]]
    return answer, message


async def _announce_and_wait(
    settings: Settings, helper_db: asyncpg.Connection, workspace_id: uuid.UUID, event_type: str, payload: dict
) -> None:
    """Emit an event through core's outbox, as core does, and wait until the helper's consumer handled it."""
    async with service_conn(settings, "core") as core, core.transaction():
        event_id = await bus.emit(
            core, schema="core", event_type=event_type, workspace_id=workspace_id, payload=payload
        )

    async def handled() -> bool:
        return bool(
            await helper_db.fetchval(
                "SELECT 1 FROM processed_events WHERE consumer_group = 'helper' AND event_id = $1", event_id
            )
        )

    await eventually(handled, what=f"the helper handles {event_type}")


async def test_a_guided_turn_is_recorded_and_its_outcomes_credit_the_pattern_exactly_once(
    http: httpx.AsyncClient,
    settings: Settings,
    embed: LocalEmbed,
    helper_db: asyncpg.Connection,
    redis_client: aioredis.Redis,
    running_stack: RunningStack,
) -> None:
    # The Guide replica's first turn on a fresh stack opens its pool (a connection, TLS refused, a
    # login): on a busy 2-core machine that can pass the 0.3 s guidance timeout. Another bot's turn
    # opens it; this test is about what comes after.
    warm_owner, warm_bot = await shop(http, settings, embed)
    await (await visitor_of(http, warm_owner, warm_bot)).say(PRICING)
    owner, bot, pattern_id, instruction = await _guided_shop(http, settings, embed, helper_db)
    visitor = await visitor_of(http, owner, bot)
    answer, message = await _guided_turn(http, owner, visitor)
    conversation_id = uuid.UUID(answer["conversation_id"])

    # The model was told, in the system part of its prompt; the message records what steered it.
    system = running_stack.llm_server.requests[-1]["body"]["messages"][0]["content"]
    assert instruction in system, system
    assert message["pattern_id"] == str(pattern_id), message
    assert message["situation"] == "pricing/consideration" and message["no_guidance"] is None
    # The visitor never sees any of it.
    mine = await http.get(f"/api/chat/conversations/{conversation_id}", headers=visitor.headers)
    assert mine.status_code == 200 and "pattern_id" not in mine.text and "situation" not in mine.text

    # The helper records the application, and what it saw and advised (none of the visitor's words).
    async def applied() -> Any:
        return await helper_db.fetchrow(
            "SELECT pattern_id, situation FROM applications WHERE message_id = $1", uuid.UUID(answer["message_id"])
        )

    recorded = await eventually(applied, what="the helper records the guided message")
    assert (recorded["pattern_id"], recorded["situation"]) == (pattern_id, "pricing/consideration")

    async def advised() -> Any:
        return await helper_db.fetch(
            "SELECT analysis, guidance FROM advice_log WHERE conversation_id = $1", conversation_id
        )

    [logged] = await eventually(advised, what="the advice log row")
    assert logged["guidance"]["pattern_id"] == str(pattern_id) and logged["analysis"]["intent"] == "pricing"
    words = {w.lower() for w in re.findall(r"\w{4,}", PRICING)} - {"pricing"}
    assert not [w for w in words if w in str(logged["analysis"]).lower()]

    # Outcomes: a thumbs up, a lead left in the widget, then a member closes the conversation.
    situation = "pricing/consideration"
    rated = await http.post(
        "/api/chat/feedback", json={"message_id": answer["message_id"], "rating": 1}, headers=visitor.headers
    )
    assert rated.status_code == 200, rated.text

    async def thumbs_up() -> bool:
        return (await _stats(helper_db, pattern_id, situation)).get("thumbs_up") == 1

    await eventually(thumbs_up, what="the rating reaches the pattern")
    lead = await http.post(
        "/api/chat/lead",
        json={"conversation_id": str(conversation_id), "name": "Ada Test", "email": "ada@example.com"},
        headers=visitor.headers,
    )
    assert lead.status_code in (200, 201), lead.text

    async def labelled() -> bool:
        outcomes = await helper_db.fetchval(
            "SELECT outcomes FROM conversations WHERE conversation_id = $1", conversation_id
        )
        return bool(outcomes) and "lead_captured" in outcomes

    await eventually(labelled, what="the lead labels the conversation")
    assert await _stats(helper_db, pattern_id, situation) == _counts(thumbs_up=1), "not credited before the close"
    closed = await http.patch(f"/api/conversations/{conversation_id}", json={"status": "closed"}, headers=owner.headers)
    assert closed.status_code == 200, closed.text
    expected = _counts(uses=1, resolutions=1, leads=1, thumbs_up=1)

    async def credited() -> bool:
        return await _stats(helper_db, pattern_id, situation) == expected

    await eventually(credited, what="the close credits the pattern")

    # Redelivery: the same close on the stream again (same event id), and the same close announced
    # anew (a new event with the same outcomes). Neither moves anything.
    stream = bus.stream_for("conversation.closed")
    entries = await redis_client.xrange(stream)
    [original] = [
        fields
        for _, fields in entries
        if fields[b"event_type"] == b"conversation.closed" and str(conversation_id).encode() in fields[b"payload"]
    ]
    await redis_client.xadd(stream, original)
    payload = bus.Event.from_fields(original).payload
    await _announce_and_wait(settings, helper_db, uuid.UUID(owner.workspace_id), "conversation.closed", payload)
    assert await _stats(helper_db, pattern_id, situation) == expected
    row = await helper_db.fetchrow(
        "SELECT outcome, credited_outcomes, visitor_id FROM conversations WHERE conversation_id = $1",
        conversation_id,
    )
    assert row["outcome"] == "lead_captured" and "lead_captured" in row["credited_outcomes"]
    assert row["visitor_id"], "the visitor is known (the unit of experiments, whom an erasure names)"

    # The visitor is erased: the helper's rows of the conversation and its cached analysis go.
    erased = await http.post(f"/api/user-profiles/{lead.json()['profile_id']}/erase", headers=owner.headers)
    assert erased.status_code == 200, erased.text

    async def forgotten() -> bool:
        left = await helper_db.fetchval(
            """
            SELECT (SELECT count(*) FROM conversations WHERE conversation_id = $1)
                 + (SELECT count(*) FROM applications WHERE conversation_id = $1)
                 + (SELECT count(*) FROM advice_log WHERE conversation_id = $1)
            """,
            conversation_id,
        )
        return left == 0 and await redis_client.exists(analysis_key(conversation_id)) == 0

    await eventually(forgotten, what="the helper forgets the erased visitor's conversation")
    # A close announced after the erasure records nothing of the visitor again.
    await _announce_and_wait(settings, helper_db, uuid.UUID(owner.workspace_id), "conversation.closed", payload)
    assert not await helper_db.fetchval("SELECT 1 FROM conversations WHERE conversation_id = $1", conversation_id)
    assert await _stats(helper_db, pattern_id, situation) == expected


async def test_an_owner_change_steers_the_next_turns_within_the_refresh(
    http: httpx.AsyncClient,
    settings: Settings,
    embed: LocalEmbed,
    helper_db: asyncpg.Connection,
    running_stack: RunningStack,
) -> None:
    """Retiring the pattern and switching the helper off reach the Guide's cache within
    CORTEX_HELPER_REFRESH_S, and the messages record why they carried no guidance."""
    owner, bot, pattern_id, _ = await _guided_shop(http, settings, embed, helper_db)
    visitor = await visitor_of(http, owner, bot)
    answer, message = await _guided_turn(http, owner, visitor)
    assert message["pattern_id"] == str(pattern_id)

    await helper_db.execute("UPDATE patterns SET status = 'retired' WHERE id = $1", pattern_id)

    async def unguided(reason: str) -> dict:
        """Turns of the conversation, a second apart (a visitor's turns are rate limited), until one
        records `reason`: the replica's copy is stale after the refresh time, the turn that finds it
        so is answered from it while it is read again, and a later turn gets the new one."""
        deadline = asyncio.get_running_loop().time() + settings.helper_refresh_s + 10
        while True:
            _, message = await _guided_turn(http, owner, visitor, answer["conversation_id"])
            if message["no_guidance"] == reason:
                return message
            assert asyncio.get_running_loop().time() < deadline, (reason, message)
            await asyncio.sleep(1.0)

    message = await unguided("no_pattern")
    assert message["pattern_id"] is None and message["situation"] == "pricing/consideration"

    await helper_db.execute(
        "INSERT INTO bot_settings (workspace_id, bot_id, enabled) VALUES ($1, $2, false)",
        uuid.UUID(owner.workspace_id),
        uuid.UUID(bot["id"]),
    )
    message = await unguided("helper_off")
    assert message["pattern_id"] is None and message["experiment_id"] is None


# -- a helper without its database never costs the answer ------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_helper_whose_postgres_is_down_or_hangs_still_gets_the_visitor_their_answer(
    http: httpx.AsyncClient,
    settings: Settings,
    embed: LocalEmbed,
    core_pool: Any,
    redis_client: aioredis.Redis,
) -> None:
    owner, bot = await shop(http, settings, embed)
    retriever = LazyRetriever(settings, embed)
    async with silent_server() as hung_port:
        for port, what in ((_closed_port(), "down"), (hung_port, "hangs")):
            broken = settings.model_copy(update={"services_database_url": f"postgresql://127.0.0.1:{port}/cortex"})
            guide = Guide(broken, redis=redis_client)
            pipeline = ChatPipeline(
                db=core_pool,
                retriever=retriever,
                guide=guide,
                llm=None,
                embed=embed,
                timeouts=Timeouts(retrieval_s=30, guidance_s=0.3),
            )
            for _ in range(2):  # the first turn finds no copy of the bot's patterns; the next asks no database
                started = asyncio.get_running_loop().time()
                done = await turn(pipeline, owner, bot["id"], PRICING)
                assert "30 euros" in done["content"], (what, done)
                assert done["degraded"] is True, (what, "the helper's failure is reported")
                assert asyncio.get_running_loop().time() - started < 3.0, what
            assert guide.bots.reads == 1, (what, "a failed first read is not repeated on every turn")
            await guide.close()


async def test_an_experiments_arms_are_recorded_on_the_messages_and_by_the_helper(
    http: httpx.AsyncClient,
    settings: Settings,
    embed: LocalEmbed,
    helper_db: asyncpg.Connection,
    running_stack: RunningStack,
) -> None:
    """A running experiment decides the turn: a visitor in the no-guidance arm gets no instruction,
    and the message still names the experiment and arm (reason `control`); one in the addendum arm
    gets the addendum. The helper records both, so both arms' visitors count."""
    owner, bot, _, instruction = await _guided_shop(http, settings, embed, helper_db)
    workspace_id = uuid.UUID(owner.workspace_id)
    experiment_id = uuid.uuid4()
    addendum = f"Close with a question about the team size ({uuid.uuid4().hex[:6]})."
    arms = [
        {"name": "control", "weight": 1, "pattern_id": None, "addendum": None},
        {"name": "short", "weight": 1, "pattern_id": None, "addendum": addendum},
    ]
    await helper_db.execute(
        """
        INSERT INTO experiments (id, workspace_id, bot_id, name, intent, metric, arms)
        VALUES ($1, $2, $3, 'control vs addendum', 'pricing', 'lead', $4)
        """,
        experiment_id,
        workspace_id,
        uuid.UUID(bot["id"]),
        arms,
    )
    seen: dict[str, tuple[dict, str]] = {}
    for _ in range(12):  # new visitors until both arms have one (each is in either with even odds)
        visitor = await visitor_of(http, owner, bot)
        answer, message = await _guided_turn(http, owner, visitor)
        system = running_stack.llm_server.requests[-1]["body"]["messages"][0]["content"]
        assert message["experiment_id"] == str(experiment_id) and message["situation"] == "pricing/consideration"
        seen.setdefault(message["arm"], (message, system))
        if len(seen) == 2:
            break
    assert set(seen) == {"control", "short"}, seen.keys()
    control, control_prompt = seen["control"]
    assert (control["pattern_id"], control["no_guidance"]) == (None, "control")
    assert instruction not in control_prompt and addendum not in control_prompt, "the control arm is told nothing"
    short, short_prompt = seen["short"]
    assert short["no_guidance"] is None and addendum in short_prompt

    async def recorded() -> Any:
        rows = await helper_db.fetch(
            "SELECT message_id, arm, pattern_id FROM applications WHERE experiment_id = $1", experiment_id
        )
        return {row["arm"] for row in rows} == {"control", "short"} and rows

    rows = await eventually(recorded, what="the helper records both arms' messages")
    assert all(row["pattern_id"] is None for row in rows)


async def test_advice_past_its_retention_is_deleted_and_the_rest_kept(helper_db: asyncpg.Connection) -> None:
    workspace, bot, conversation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ages = {"old": 31, "older": 90, "recent": 29, "new": 0}
    ids = {name: uuid.uuid4() for name in ages}
    for name, days in ages.items():
        await helper_db.execute(
            """
            INSERT INTO advice_log (id, workspace_id, bot_id, conversation_id, analysis, guidance, created_at)
            VALUES ($1, $2, $3, $4, '{}', '{}', now() - make_interval(days => $5))
            """,
            ids[name],
            workspace,
            bot,
            conversation,
            days,
        )
    erased_long_ago, erased_lately = uuid.uuid4(), uuid.uuid4()
    await helper_db.execute(
        """
        INSERT INTO erased_conversations (conversation_id, workspace_id, erased_at)
        VALUES ($1, $3, now() - interval '31 days'), ($2, $3, now() - interval '1 day')
        """,
        erased_long_ago,
        erased_lately,
        workspace,
    )
    assert await prune(helper_db, retention_days=30, batch=1) >= 2  # one row per statement: the loop ends
    left = {
        row["id"] for row in await helper_db.fetch("SELECT id FROM advice_log WHERE conversation_id = $1", conversation)
    }
    assert left == {ids["recent"], ids["new"]}
    erased = await helper_db.fetch(
        "SELECT conversation_id FROM erased_conversations WHERE conversation_id = ANY($1::uuid[])",
        [erased_long_ago, erased_lately],
    )
    assert [row["conversation_id"] for row in erased] == [erased_lately]

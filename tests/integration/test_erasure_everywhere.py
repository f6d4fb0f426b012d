"""An erased visitor leaves nothing readable behind: no schema, stream or Redis key holds their name,
address, phone or words, however many services heard of them."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER
from cortex.email_address import email_digest
from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account, register
from .chatting import eventually, make_bot, visitor_of
from .db import service_conn

SCHEDULE = "/api/langgraph/schedule"


async def _book_for(http: httpx.AsyncClient, owner: Account, bot: dict, person: dict[str, str]) -> dict:
    """The bot books, and a member books the visitor by their address (no conversation: the erasure
    finds it by the address's digest), with the visitor's words in the notes."""
    every_day = {str(day): [["08:00", "18:00"]] for day in range(1, 8)}
    headers = owner.headers
    put = await http.put(
        f"{SCHEDULE}/settings/{bot['id']}",
        json={"time_zone": "UTC", "hours": every_day, "follow_up_hours": 24},
        headers=headers,
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{SCHEDULE}/services", json={"bot_id": bot["id"], "name": "Fitting", "duration_min": 30}, headers=headers
    )
    assert service.status_code == 201, service.text
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    booked = await http.post(
        f"{SCHEDULE}/bookings",
        json={
            "bot_id": bot["id"],
            "service_id": service.json()["id"],
            "start": f"{day}T10:00:00+00:00",
            "name": person["name"],
            "email": person["email"],
            "notes": person["words"],
        },
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    return booked.json()


async def _scheduling_run_for(
    settings: Settings, workspace_id: str, bot_id: str, conversation_id: str, person: dict
) -> str:
    """A scheduling run of the visitor's conversation with its LangGraph checkpoint and pending write
    (as the graph keeps the visitor's name, address and words in its state)."""
    run_id = uuid.uuid4()
    state = orjson.dumps({"name": person["name"], "email": person["email"], "said": person["words"]})
    async with service_conn(settings, "workflows") as conn:
        await conn.execute(
            "INSERT INTO workflow_runs (id, workspace_id, bot_id, workflow, conversation_id, visitor_id) "
            "VALUES ($1, $2, $3, 'scheduling', $4, 'v-erased')",
            run_id,
            uuid.UUID(workspace_id),
            uuid.UUID(bot_id),
            uuid.UUID(conversation_id),
        )
        await conn.execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type, checkpoint, metadata) "
            "VALUES ($1, '', '1', 'json', $2::text::jsonb, $2::text::jsonb)",
            str(run_id),
            state.decode(),
        )
        await conn.execute(
            "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, "
            "blob) VALUES ($1, '', '1', 't', 0, 'messages', 'json', $2)",
            str(run_id),
            state,
        )
    return str(run_id)


def _person() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    surname = "".join(random.choice("bdfgklmnprstvz") + random.choice("aeiou") for _ in range(4)).capitalize()
    last_four = f"{random.randrange(10_000):04d}"
    return {
        "name": f"Quilla {surname}",
        "surname": surname,
        "email": f"quilla.{tag}@example.com",
        "phone": f"+1 415-555-{last_four}",
        "phone_digits": f"555{last_four}",  # as any formatting of the number stores it
        "words": f"order zq{tag}",
    }


async def _rows_holding(conn: asyncpg.Connection, needles: list[str]) -> list[str]:
    """`schema.table` of every row, in every schema, whose text holds one of `needles` (case-insensitive)."""
    tables = await conn.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
    )
    patterns = [f"%{needle}%" for needle in needles]
    found = []
    for table in tables:
        name = f'"{table["table_schema"]}"."{table["table_name"]}"'
        count = await conn.fetchval(f"SELECT count(*) FROM {name} AS r WHERE r::text ILIKE ANY($1::text[])", patterns)
        found += [f"{table['table_schema']}.{table['table_name']}"] * count
    return found


async def _redis_holding(client: aioredis.Redis, needles: list[str]) -> list[str]:
    """Every Redis key (streams entry by entry) whose value holds one of `needles` (case-insensitive)."""
    wanted = [needle.lower().encode() for needle in needles]
    found = []
    async for key in client.scan_iter(count=1000):
        kind = (await client.type(key)).decode()
        if kind == "stream":
            values = [
                orjson.dumps({k.decode(): v.decode() for k, v in fields.items()})
                for _, fields in await client.xrange(key)
            ]
        elif kind == "string":
            values = [await client.get(key) or b""]
        elif kind == "hash":
            values = [b" ".join(k + b"=" + v for k, v in (await client.hgetall(key)).items())]
        elif kind == "list":
            values = await client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(await client.smembers(key))
        elif kind == "zset":
            values = await client.zrange(key, 0, -1)
        else:
            continue
        found += [key.decode() for value in values if any(needle in value.lower() for needle in wanted)]
    return found


async def test_after_an_erasure_no_schema_stream_or_cache_holds_the_visitor(
    http: httpx.AsyncClient, settings: Settings, redis_client: aioredis.Redis, running_stack: RunningStack
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=[{"id": "hours", "title": "Opening hours", "text": "The shop is open from 9am to 5pm on weekdays."}],
        embed=LocalEmbed(),
    )
    visitor = await visitor_of(http, owner, bot)
    person = _person()
    # The business's CalDAV calendar takes its bookings: the event written there names the visitor too.
    radicale = running_stack.calendars.radicale
    collection = f"erasure-{uuid.uuid4().hex[:8]}"
    connected = await http.post(
        "/api/langgraph/calendars",
        json={
            "kind": "caldav",
            "url": radicale.make_calendar(CALDAV_USER, collection),
            "username": CALDAV_USER,
            "password": CALDAV_PASSWORD,
        },
        headers=owner.headers,
    )
    assert connected.status_code == 201, connected.text
    appointment = await _book_for(http, owner, bot, person)

    def calendar_text() -> str:  # unfolded (RFC 5545 folds long lines)
        return "".join(radicale.events(CALDAV_USER, collection).values()).replace("\r\n ", "").replace("\n ", "")

    async def written() -> bool:
        return person["email"] in calendar_text()

    await eventually(written, what="the booking is written into the connected calendar with the visitor")
    # A first question the bot answers from its knowledge: the kind of answer the answer cache keeps.
    first = await visitor.say(f"When is the shop open on weekdays? It is about my {person['words']}")
    assert first["citations"], first
    conversation_id = first["conversation_id"]
    lead = await http.post(
        "/api/chat/lead",
        json={
            "conversation_id": conversation_id,
            "name": person["name"],
            "email": person["email"],
            "phone": person["phone"],
            "marketing_consent": True,
        },
        headers=visitor.headers,
    )
    assert lead.status_code in (200, 201), lead.text
    profile_id = lead.json()["profile_id"]
    needles = [person["email"], person["surname"], person["phone_digits"], person["words"]]
    run_id = await _scheduling_run_for(settings, owner.workspace_id, bot["id"], conversation_id, person)

    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        # Marketing heard of the lead; it keeps the consent without the address.
        await eventually(
            lambda: conn.fetchval("SELECT 1 FROM marketing.consents WHERE profile_id = $1", uuid.UUID(profile_id)),
            what="marketing records the visitor's consent",
        )
        # A lead.captured from before the event stopped carrying the address, on the stream and in core's outbox.
        legacy = {
            "conversation_id": conversation_id,
            "bot_id": bot["id"],
            "profile_id": profile_id,
            "fields": ["email"],
            "email": person["email"],
            "marketing_consent": True,
        }
        event_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO core.outbox (event_id, event_type, workspace_id, payload, published_at) "
            "VALUES ($1, 'lead.captured', $2, $3::jsonb, now())",
            event_id,
            uuid.UUID(owner.workspace_id),
            orjson.dumps(legacy).decode(),
        )
        await redis_client.xadd(
            "cortex:events:lead",
            {
                "event_id": str(event_id),
                "event_type": "lead.captured",
                "workspace_id": owner.workspace_id,
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "payload": orjson.dumps(legacy),
            },
        )
        # The search finds what is there: the profile, the visitor's words, the legacy copies.
        before = await _rows_holding(conn, needles)
        assert {"core.visitor_profiles", "core.messages", "core.outbox"} <= set(before), before
        assert {"workflows.appointments", "workflows.checkpoints"} <= set(before), before
        # Workflows heard of the lead: a follow-up for the owner, a day later.
        follow_up = await eventually(
            lambda: conn.fetchrow(
                "SELECT id, status FROM workflows.tasks WHERE kind = 'follow_up' AND conversation_id = $1",
                uuid.UUID(conversation_id),
            ),
            what="workflows plans a follow-up of the lead",
        )
        assert follow_up["status"] == "queued"
        assert "cortex:events:lead" in await _redis_holding(redis_client, needles)

        erased = await http.post(f"/api/user-profiles/{profile_id}/erase", headers=owner.headers)
        assert erased.status_code == 200, erased.text

        async def consent_gone() -> bool:
            kept = await conn.fetchval(
                "SELECT count(*) FROM marketing.consents WHERE profile_id = $1", uuid.UUID(profile_id)
            )
            return kept == 0

        await eventually(consent_gone, what="marketing forgets the erased visitor")

        async def stream_clean() -> bool:
            return await _redis_holding(redis_client, needles) == []

        await eventually(stream_clean, what="no Redis key or stream entry holds the visitor's details")

        # Workflows: the appointment keeps its time (the slot stays taken) without the visitor; the
        # follow-up is off; the run forgets the visitor and its checkpoints are gone.
        async def appointment_anonymous() -> asyncpg.Record | None:
            row = await conn.fetchrow(
                "SELECT name, email, notes, status FROM workflows.appointments WHERE id = $1",
                uuid.UUID(appointment["id"]),
            )
            return row if row["email"] is None else None

        kept = await eventually(appointment_anonymous, what="workflows forgets the visitor's appointment")
        assert (kept["name"], kept["notes"], kept["status"]) == (None, "", "booked")

        async def calendar_event_anonymous() -> bool:
            text = calendar_text()
            return "BEGIN:VEVENT" in text and not any(needle in text for needle in needles)

        await eventually(calendar_event_anonymous, what="the connected calendar's event forgets the visitor")
        task = await conn.fetchrow("SELECT status, last_error FROM workflows.tasks WHERE id = $1", follow_up["id"])
        assert (task["status"], task["last_error"]) == ("cancelled", "the visitor was erased")
        run = await conn.fetchrow("SELECT visitor_id FROM workflows.workflow_runs WHERE id = $1", uuid.UUID(run_id))
        assert run["visitor_id"] is None
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
            left = await conn.fetchval(f"SELECT count(*) FROM workflows.{table} WHERE thread_id = $1", run_id)
            assert left == 0, f"workflows.{table} keeps the erased visitor's run"

        async def erased_event() -> dict | None:
            for _, fields in await redis_client.xrange("cortex:events:visitor"):
                payload = orjson.loads(fields[b"payload"])
                if fields[b"event_type"] == b"visitor.erased" and payload["profile_id"] == profile_id:
                    return payload
            return None

        # A phone number's digest is found by trying every number: the event carries none. The address
        # comes keyed with the installation's secret: hashing a list of addresses does not find it.
        announced = await eventually(erased_event, what="visitor.erased on the bus")
        assert not [field for field in announced if "phone" in field], announced
        assert announced["email_digest"] == email_digest(settings, person["email"])
        assert hashlib.sha256(person["email"].encode()).hexdigest() not in orjson.dumps(announced).decode()

        # The lead event again, as a retry or a redelivery would bring it after the erasure: marketing
        # must not record a consent for someone who asked to be forgotten.
        current = {key: value for key, value in legacy.items() if key != "email"}
        redelivered = await redis_client.xadd(
            "cortex:events:lead",
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "lead.captured",
                "workspace_id": owner.workspace_id,
                "occurred_at": "2026-01-01T00:00:01+00:00",
                "payload": orjson.dumps(current),
            },
        )

        async def marketing_handled_it() -> bool:
            for group in await redis_client.xinfo_groups("cortex:events:lead"):
                if group["name"] == b"marketing":
                    delivered = tuple(map(int, group["last-delivered-id"].split(b"-")))
                    return delivered >= tuple(map(int, redelivered.split(b"-"))) and group["pending"] == 0
            return False

        await eventually(marketing_handled_it, what="marketing consumes the redelivered lead event")
        assert await consent_gone(), "a redelivered lead brought back the erased visitor's consent"
        assert await _rows_holding(conn, needles) == [], "no row of any schema holds the visitor's details"
    finally:
        await conn.close()

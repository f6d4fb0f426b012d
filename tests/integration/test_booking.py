"""Booking through the /schedule API on the real stack: a bot books after one PUT of its settings and one
service; availability follows the business's hours in its own time zone, busy blocks and closures;
twenty concurrent attempts on one slot with one resource make exactly one booking and nineteen 409s
that each offer free slots; a move frees the old time, a cancellation frees the slot; two resources
take two bookings at once; bad input is a 422 naming the problem, never a 500.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from cortex.db import create_pool
from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER
from cortex.settings import Settings
from cortex.workflows.scheduling import booking
from cortex.workflows.scheduling.models import BookingError
from tests.stack_fixtures import RunningStack

from .accounts import Account, member_of, register
from .chatting import eventually, make_bot
from .db import service_conn

S = "/api/langgraph/schedule"
ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)
EVERY_DAY = {str(day): [["09:00", "12:00"], ["13:00", "17:00"]] for day in range(1, 8)}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Berlin, as an aware datetime."""
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def _bookable_bot(http: httpx.AsyncClient, owner: Account, *, name: str, **settings: object) -> dict:
    bot = await make_bot(http, owner, name=name)
    body = {"time_zone": ZONE, "hours": EVERY_DAY, "min_notice_min": 60, "horizon_days": 30, **settings}
    put = await http.put(f"{S}/settings/{bot['id']}", json=body, headers=owner.headers)
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{S}/services", json={"bot_id": bot["id"], "name": "Haircut", "duration_min": 30}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    return {"bot": bot, "service": service.json(), "settings": put.json()}


@pytest.fixture(scope="module")
async def salon(http: httpx.AsyncClient) -> dict:
    owner = await register(http, workspace="Booking salon")
    agent = await member_of(http, owner, "agent")
    viewer = await member_of(http, owner, "viewer")
    # Three days ahead in Berlin: inside the horizon, past the minimum notice, whatever the hour now.
    day = datetime.now(BERLIN).date() + timedelta(days=3)
    return {"owner": owner, "agent": agent, "viewer": viewer, "day": day}


async def _slots(
    http: httpx.AsyncClient, who: Account, bot: dict, service: dict, start: datetime, end: datetime
) -> list:
    response = await http.get(
        f"{S}/availability",
        params={"bot_id": bot["id"], "service_id": service["id"], "from": iso(start), "to": iso(end)},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["slots"]


def _local(slots: list[dict]) -> list[str]:
    return [datetime.fromisoformat(slot["start"]).astimezone(BERLIN).strftime("%H:%M") for slot in slots]


async def _book(
    http: httpx.AsyncClient, who: Account, bot: dict, service: dict, when: datetime, **extra: object
) -> httpx.Response:
    body = {
        "bot_id": bot["id"],
        "service_id": service["id"],
        "start": iso(when),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        **extra,
    }
    return await http.post(f"{S}/bookings", json=body, headers=who.headers)


async def test_one_put_and_one_service_make_a_bot_book(
    http: httpx.AsyncClient, salon: dict, settings: Settings
) -> None:
    owner, viewer, day = salon["owner"], salon["viewer"], salon["day"]
    bot = await make_bot(http, owner, name="Fresh salon")
    before = await http.get(f"{S}/settings/{bot['id']}", headers=viewer.headers)
    assert before.status_code == 200, before.text
    assert before.json()["configured"] is False and before.json()["enabled"] is False

    put = await http.put(
        f"{S}/settings/{bot['id']}",
        json={"time_zone": ZONE, "hours": EVERY_DAY, "buffer_min": 15},
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["configured"] is True and put.json()["hours"]["1"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    resources = (await http.get(f"{S}/resources", params={"bot_id": bot["id"]}, headers=viewer.headers)).json()
    assert [r["name"] for r in resources] == ["Main"], "the first PUT gives the bot its one resource"
    again = await http.put(
        f"{S}/settings/{bot['id']}", json={"time_zone": ZONE, "hours": EVERY_DAY}, headers=owner.headers
    )
    assert again.status_code == 200
    assert len((await http.get(f"{S}/resources", params={"bot_id": bot["id"]}, headers=viewer.headers)).json()) == 1

    service = await http.post(
        f"{S}/services", json={"bot_id": bot["id"], "name": "Consultation", "duration_min": 45}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    service = service.json()

    slots = await _slots(http, viewer, bot, service, at(day, 0), at(day + timedelta(days=1), 0))
    local = _local(slots)
    # 09:00-12:00 and 13:00-17:00 in Berlin, 30-minute steps, 45 minutes must end by closing time.
    assert local == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "13:00",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
    ]
    offset = datetime.fromisoformat(slots[0]["start"]).astimezone(BERLIN).utcoffset()
    assert datetime.fromisoformat(slots[0]["start"]).astimezone(UTC) == at(day, 9).astimezone(UTC), offset
    assert slots[0]["resource_ids"] == [resources[0]["id"]]

    made = await _book(http, owner, bot, service, at(day, 10), time_zone="America/New_York", notes="first visit")
    assert made.status_code == 201, made.text
    appointment = made.json()
    assert appointment["status"] == "booked" and appointment["sequence"] == 0
    assert appointment["uid"] == f"{appointment['id']}@cortex"
    assert datetime.fromisoformat(appointment["starts_at"]) == at(day, 10)
    assert datetime.fromisoformat(appointment["ends_at"]) == at(day, 10, 45)
    assert appointment["time_zone"] == "America/New_York" and appointment["source"] == "dashboard"

    # 10:00-10:45 and its 15-minute buffer block 09:30 (it would run into 10:00) to 10:30; 11:00 is free.
    local_after = _local(await _slots(http, viewer, bot, service, at(day, 0), at(day + timedelta(days=1), 0)))
    assert local_after[:3] == ["09:00", "11:00", "13:00"]

    listed = await http.get(f"{S}/bookings", params={"bot_id": bot["id"], "status": "booked"}, headers=viewer.headers)
    assert [a["id"] for a in listed.json()] == [appointment["id"]]
    one = await http.get(f"{S}/bookings/{appointment['id']}", headers=viewer.headers)
    assert one.status_code == 200 and one.json()["notes"] == "first visit"

    async with service_conn(settings, "workflows") as conn:
        event = await conn.fetchrow(
            "SELECT event_type, payload FROM outbox WHERE payload->>'appointment_id' = $1", appointment["id"]
        )
    assert event is not None and event["event_type"] == "appointment.booked"


async def test_twenty_concurrent_bookings_of_one_slot_make_exactly_one(
    http: httpx.AsyncClient, salon: dict, settings: Settings
) -> None:
    owner, agent, day = salon["owner"], salon["agent"], salon["day"]
    shop = await _bookable_bot(http, owner, name="One chair")
    bot, service = shop["bot"], shop["service"]
    wanted = at(day, 11)

    answers = await asyncio.gather(
        *(_book(http, agent, bot, service, wanted, name=f"Visitor {i}", email=f"v{i}@example.com") for i in range(20))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 19, [a.text for a in answers if a.status_code not in (201, 409)]

    free_now = {
        slot["start"]
        for slot in await _slots(http, owner, bot, service, wanted - timedelta(days=1), wanted + timedelta(days=14))
    }
    for answer in answers:
        if answer.status_code != 409:
            continue
        error = answer.json()["error"]
        assert error["code"] == "slot_taken"
        alternatives = error["details"]["alternatives"]
        assert alternatives, "every loser is offered other times"
        assert all(datetime.fromisoformat(a["start"]) != wanted for a in alternatives)
        assert {a["start"] for a in alternatives} <= free_now, "and the times offered are free"

    async with service_conn(settings, "workflows") as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE bot_id = $1 AND status = 'booked' AND starts_at = $2",
            uuid.UUID(bot["id"]),
            wanted,
        )
    assert booked == 1

    # One of the alternatives offered books at once.
    loser = next(answer for answer in answers if answer.status_code == 409)
    offered = datetime.fromisoformat(loser.json()["error"]["details"]["alternatives"][0]["start"])
    assert (await _book(http, agent, bot, service, offered)).status_code == 201


async def test_a_move_frees_the_old_time_and_a_cancellation_frees_the_slot(
    http: httpx.AsyncClient, salon: dict
) -> None:
    owner, agent, day = salon["owner"], salon["agent"], salon["day"]
    shop = await _bookable_bot(http, owner, name="Move and cancel")
    bot, service = shop["bot"], shop["service"]
    whole_day = (at(day, 0), at(day + timedelta(days=1), 0))

    first = (await _book(http, agent, bot, service, at(day, 13))).json()
    other = (await _book(http, agent, bot, service, at(day, 15))).json()
    moved = await http.post(
        f"{S}/bookings/{first['id']}/reschedule", json={"start": iso(at(day, 14))}, headers=agent.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["sequence"] == 1 and moved.json()["uid"] == first["uid"]
    assert datetime.fromisoformat(moved.json()["starts_at"]) == at(day, 14)
    local = _local(await _slots(http, owner, bot, service, *whole_day))
    assert "13:00" in local and "14:00" not in local and "15:00" not in local

    # Onto a taken time: 409 with free times, and the appointment stays where it was.
    clash = await http.post(
        f"{S}/bookings/{first['id']}/reschedule", json={"start": iso(at(day, 15))}, headers=agent.headers
    )
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "slot_taken"
    assert clash.json()["error"]["details"]["alternatives"]
    still = (await http.get(f"{S}/bookings/{first['id']}", headers=owner.headers)).json()
    assert datetime.fromisoformat(still["starts_at"]) == at(day, 14) and still["sequence"] == 1

    # A move by half an hour overlaps its own old time: that is no clash.
    nudged = await http.post(
        f"{S}/bookings/{first['id']}/reschedule", json={"start": iso(at(day, 14, 30))}, headers=agent.headers
    )
    assert nudged.status_code == 200, nudged.text

    cancelled = await http.post(f"{S}/bookings/{other['id']}/cancel", headers=agent.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"] is not None
    assert cancelled.json()["sequence"] == 1
    assert "15:00" in _local(await _slots(http, owner, bot, service, *whole_day)), "the slot is free again"
    twice = await http.post(f"{S}/bookings/{other['id']}/cancel", headers=agent.headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_cancelled"
    rebooked = await _book(http, agent, bot, service, at(day, 15))
    assert rebooked.status_code == 201, "someone else takes the freed slot"
    moving_cancelled = await http.post(
        f"{S}/bookings/{other['id']}/reschedule", json={"start": iso(at(day, 16))}, headers=agent.headers
    )
    assert moving_cancelled.status_code == 409


async def test_two_resources_take_two_bookings_of_one_slot(http: httpx.AsyncClient, salon: dict) -> None:
    owner, agent, day = salon["owner"], salon["agent"], salon["day"]
    shop = await _bookable_bot(http, owner, name="Two chairs")
    bot, service = shop["bot"], shop["service"]
    second = await http.post(f"{S}/resources", json={"bot_id": bot["id"], "name": "Chair 2"}, headers=owner.headers)
    assert second.status_code == 201, second.text
    wanted = at(day, 10)

    answers = await asyncio.gather(
        *(_book(http, agent, bot, service, wanted, email=f"c{i}@example.com") for i in range(3))
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 409]
    taken = {a.json()["resource_id"] for a in answers if a.status_code == 201}
    assert len(taken) == 2, "one booking on each resource"
    slots = await _slots(http, owner, bot, service, at(day, 9), at(day, 12))
    assert "10:00" not in _local(slots)
    half_full = next(s for s in slots if _local([s]) == ["10:30"])
    assert len(half_full["resource_ids"]) == 2

    # Switching a resource off takes its capacity away from new bookings.
    await http.patch(f"{S}/resources/{second.json()['id']}", json={"active": False}, headers=owner.headers)
    first = await _book(http, agent, bot, service, at(day, 11))
    assert first.status_code == 201
    assert (await _book(http, agent, bot, service, at(day, 11))).status_code == 409
    # A resource with appointments on record is switched off, never deleted.
    deleted = await http.delete(f"{S}/resources/{second.json()['id']}", headers=owner.headers)
    assert deleted.status_code == 409
    # With no resource on, nothing is offered and a booking says why.
    (main,) = taken - {second.json()["id"]}
    await http.patch(f"{S}/resources/{main}", json={"active": False}, headers=owner.headers)
    assert await _slots(http, owner, bot, service, at(day, 9), at(day, 17)) == []
    none_on = await _book(http, agent, bot, service, at(day, 14))
    assert none_on.status_code == 422 and "no active resource" in none_on.json()["error"]["message"]


async def test_busy_blocks_and_closures_take_time_away(http: httpx.AsyncClient, salon: dict) -> None:
    owner, day = salon["owner"], salon["day"]
    shop = await _bookable_bot(http, owner, name="Blocks and closures")
    bot, service = shop["bot"], shop["service"]
    block = await http.post(
        f"{S}/busy",
        json={
            "bot_id": bot["id"],
            "starts_at": iso(at(day, 9, 30)),
            "ends_at": iso(at(day, 10, 15)),
            "title": "Supplier",
        },
        headers=owner.headers,
    )
    assert block.status_code == 201, block.text
    local = _local(await _slots(http, owner, bot, service, at(day, 0), at(day, 12)))
    assert local[:3] == ["09:00", "10:30", "11:00"]
    assert (await _book(http, owner, bot, service, at(day, 10))).status_code == 409

    moved = await http.patch(
        f"{S}/busy/{block.json()['id']}",
        json={"starts_at": iso(at(day, 11)), "ends_at": iso(at(day, 12))},
        headers=owner.headers,
    )
    assert moved.status_code == 200, moved.text
    assert _local(await _slots(http, owner, bot, service, at(day, 0), at(day, 12)))[-1] == "10:30"
    assert (await http.delete(f"{S}/busy/{block.json()['id']}", headers=owner.headers)).status_code == 204

    closure = await http.post(
        f"{S}/closures",
        json={
            "bot_id": bot["id"],
            "starts_on": (day + timedelta(days=1)).isoformat(),
            "ends_on": (day + timedelta(days=2)).isoformat(),
            "reason": "Holiday",
        },
        headers=owner.headers,
    )
    assert closure.status_code == 201, closure.text
    closed = await _slots(http, owner, bot, service, at(day + timedelta(days=1), 0), at(day + timedelta(days=3), 0))
    assert closed == []
    refused = await _book(http, owner, bot, service, at(day + timedelta(days=1), 10))
    assert refused.status_code == 422 and "closed" in refused.json()["error"]["message"]
    assert _local(
        await _slots(http, owner, bot, service, at(day + timedelta(days=3), 0), at(day + timedelta(days=4), 0))
    )


async def test_bad_input_is_a_422_that_says_what_is_wrong(http: httpx.AsyncClient, salon: dict) -> None:
    owner, viewer, day = salon["owner"], salon["viewer"], salon["day"]
    shop = await _bookable_bot(http, owner, name="Bad input")
    bot, service = shop["bot"], shop["service"]
    settings_url = f"{S}/settings/{bot['id']}"

    bad_settings = {
        "bad time zone": {"time_zone": "Mars/Olympus_Mons", "hours": EVERY_DAY},
        "reversed span": {"time_zone": ZONE, "hours": {"1": [["17:00", "09:00"]]}},
        "overlapping spans": {"time_zone": ZONE, "hours": {"1": [["09:00", "13:00"], ["12:00", "17:00"]]}},
        "not a time": {"time_zone": ZONE, "hours": {"1": [["9am", "17:00"]]}},
        "hour 25": {"time_zone": ZONE, "hours": {"1": [["09:00", "25:00"]]}},
        "day 8": {"time_zone": ZONE, "hours": {"8": [["09:00", "17:00"]]}},
        "negative buffer": {"time_zone": ZONE, "hours": EVERY_DAY, "buffer_min": -5},
        "unknown field": {"time_zone": ZONE, "hours": EVERY_DAY, "open_on_holidays": True},
    }
    for what, body in bad_settings.items():
        response = await http.put(settings_url, json=body, headers=owner.headers)
        assert response.status_code == 422, f"{what}: {response.status_code} {response.text}"
    zone_error = (await http.put(settings_url, json=bad_settings["bad time zone"], headers=owner.headers)).json()
    assert "IANA" in zone_error["error"]["message"]
    assert (await http.get(settings_url, headers=owner.headers)).json()["time_zone"] == ZONE, "nothing changed"

    availability = f"{S}/availability"
    base = {"bot_id": bot["id"], "service_id": service["id"]}
    reversed_range = await http.get(
        availability, params={**base, "from": iso(at(day, 12)), "to": iso(at(day, 9))}, headers=viewer.headers
    )
    assert reversed_range.status_code == 422 and "after" in reversed_range.json()["error"]["message"]
    too_long = await http.get(
        availability,
        params={**base, "from": iso(at(day, 0)), "to": iso(at(day + timedelta(days=40), 0))},
        headers=viewer.headers,
    )
    assert too_long.status_code == 422 and "horizon" in too_long.json()["error"]["message"]
    unknown_service = await http.get(
        availability, params={**base, "service_id": str(uuid.uuid4())}, headers=viewer.headers
    )
    assert unknown_service.status_code == 422
    naive = await http.get(availability, params={**base, "from": "2030-01-01T09:00:00"}, headers=viewer.headers)
    assert naive.status_code == 422

    outside = await _book(http, owner, bot, service, at(day, 20))
    assert outside.status_code == 422 and "business hours" in outside.json()["error"]["message"]
    lunch = await _book(http, owner, bot, service, at(day, 11, 45))
    assert lunch.status_code == 422, "11:45 + 30 minutes runs past the 12:00 closing"
    too_far = await _book(http, owner, bot, service, at(day + timedelta(days=40), 10))
    assert too_far.status_code == 422 and "30 days" in too_far.json()["error"]["message"]
    past = await _book(http, owner, bot, service, at(day - timedelta(days=10), 10))
    assert past.status_code == 422
    wrong_service = await http.post(
        f"{S}/bookings",
        json={
            "bot_id": bot["id"],
            "service_id": str(uuid.uuid4()),
            "start": iso(at(day, 10)),
            "name": "A",
            "email": "a@example.com",
        },
        headers=owner.headers,
    )
    assert wrong_service.status_code == 422 and "service" in wrong_service.json()["error"]["message"]
    for field, value in (("email", "not-an-address"), ("time_zone", "Nowhere/Land"), ("start", "2030-01-01T10:00:00")):
        response = await _book(http, owner, bot, service, at(day, 10), **{field: value})
        assert response.status_code == 422, f"{field}: {response.text}"
    assert (await _book(http, viewer, bot, service, at(day, 10))).status_code == 403, "a viewer only reads"
    missing = await http.get(f"{S}/bookings/{uuid.uuid4()}", headers=owner.headers)
    assert missing.status_code == 404
    duplicate = await http.post(
        f"{S}/services", json={"bot_id": bot["id"], "name": "Haircut", "duration_min": 20}, headers=owner.headers
    )
    assert duplicate.status_code == 409
    unknown_bot = await http.put(
        f"{S}/settings/{uuid.uuid4()}", json={"time_zone": ZONE, "hours": EVERY_DAY}, headers=owner.headers
    )
    assert unknown_bot.status_code == 404
    assert not [
        a for a in (await http.get(f"{S}/bookings", params={"bot_id": bot["id"]}, headers=owner.headers)).json()
    ]


async def test_a_deleted_bot_stops_booking_and_its_appointments_stay(http: httpx.AsyncClient, salon: dict) -> None:
    owner, day = salon["owner"], salon["day"]
    shop = await _bookable_bot(http, owner, name="Closing down")
    bot, service = shop["bot"], shop["service"]
    made = await _book(http, owner, bot, service, at(day, 9))
    assert made.status_code == 201, made.text
    assert (await http.delete(f"/api/bots/{bot['id']}", headers=owner.headers)).status_code == 204

    async def gone() -> bool:
        response = await http.get(f"{S}/settings/{bot['id']}", headers=owner.headers)
        return response.status_code == 404

    await eventually(gone, what="bot.deleted to reach workflows")
    refused = await _book(http, owner, bot, service, at(day, 10))
    assert refused.status_code == 404, refused.text
    kept = await http.get(f"{S}/bookings/{made.json()['id']}", headers=owner.headers)
    assert kept.status_code == 200 and kept.json()["status"] == "booked", "the business still has the appointment"
    services = (await http.get(f"{S}/services", params={"bot_id": bot["id"]}, headers=owner.headers)).json()
    assert [s["active"] for s in services] == [False]


def _ics(uid: str, start: datetime, end: datetime) -> str:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\nSUMMARY:Dentist\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


async def test_connected_calendars_are_asked_for_slots_and_again_at_booking(
    http: httpx.AsyncClient, salon: dict, settings: Settings, running_stack: RunningStack
) -> None:
    day = salon["day"]
    owner = await register(http, workspace="Calendar salon")  # calendars are the workspace's: its own
    shop = await _bookable_bot(http, owner, name="With a calendar", notify={"emails": [owner.email]})
    bot, service = shop["bot"], shop["service"]
    radicale = running_stack.calendars.radicale
    collection = f"salon-{uuid.uuid4().hex[:8]}"
    url = radicale.make_calendar(CALDAV_USER, collection)
    connected = await http.post(
        "/api/langgraph/calendars",
        json={"kind": "caldav", "url": url, "username": CALDAV_USER, "password": CALDAV_PASSWORD},
        headers=owner.headers,
    )
    assert connected.status_code == 201, connected.text
    radicale.put_event(CALDAV_USER, collection, "dentist", _ics("dentist", at(day, 10), at(day, 11)))
    whole_day = (at(day, 0), at(day + timedelta(days=1), 0))

    local = _local(await _slots(http, owner, bot, service, *whole_day))
    assert "09:30" in local and "10:00" not in local and "10:30" not in local and "11:00" in local
    assert "14:00" in local
    # Busy in the owner's calendar after the visitor saw the slot: the booking asks again and refuses.
    radicale.put_event(CALDAV_USER, collection, "late", _ics("late", at(day, 14), at(day, 14, 30)))
    taken = await _book(http, owner, bot, service, at(day, 14))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slot_taken", taken.text
    offered = {datetime.fromisoformat(a["start"]) for a in taken.json()["error"]["details"]["alternatives"]}
    assert offered and at(day, 14) not in offered and at(day, 10) not in offered

    made = await _book(http, owner, bot, service, at(day, 15))
    assert made.status_code == 201, made.text
    appointment = made.json()
    assert appointment["external"] == {connected.json()["id"]: appointment["external"][connected.json()["id"]]}
    events = radicale.events(CALDAV_USER, collection)
    assert any(f"UID:{appointment['uid']}" in ics for ics in events.values()), "written into the owner's calendar"
    cancelled = await http.post(f"{S}/bookings/{appointment['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 200
    assert not any(f"UID:{appointment['uid']}" in ics for ics in radicale.events(CALDAV_USER, collection).values())

    # The calendar goes down: the built-in calendar answers, names it, and the owner is told.
    async with service_conn(settings, "workflows") as conn:
        await conn.execute(
            """UPDATE calendars SET config = config || '{"url": "http://127.0.0.1:9/", "calendar_url": "http://127.0.0.1:9/"}'
                WHERE id = $1""",
            uuid.UUID(connected.json()["id"]),
        )
    answer = await http.get(
        f"{S}/availability",
        params={"bot_id": bot["id"], "service_id": service["id"], "from": iso(whole_day[0]), "to": iso(whole_day[1])},
        headers=owner.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["failed_calendars"] == [connected.json()["name"]]
    assert "10:00" in _local(answer.json()["slots"]), "the unreachable calendar's busy time is unknown"
    down = await _book(http, owner, bot, service, at(day, 16))
    assert down.status_code == 201, "a calendar that is down never blocks a booking"
    async with service_conn(settings, "workflows") as conn:
        told = await conn.fetch(
            "SELECT payload FROM tasks WHERE kind = 'notify_owner' AND appointment_id = $1",
            uuid.UUID(down.json()["id"]),
        )
    failures = [t["payload"] for t in told if t["payload"]["event"] == "calendar_failed"]
    assert failures and all(f["calendars"] == [connected.json()["name"]] for f in failures)


async def test_the_webhook_secret_is_shown_once_and_rotated_on_request(http: httpx.AsyncClient, salon: dict) -> None:
    owner = salon["owner"]
    bot = await make_bot(http, owner, name="Webhooks")
    url = f"{S}/settings/{bot['id']}"
    body = {"time_zone": ZONE, "hours": EVERY_DAY, "notify": {"webhook_url": "https://hooks.example/bookings"}}
    first = (await http.put(url, json=body, headers=owner.headers)).json()
    assert first["has_webhook_secret"] and len(first["webhook_secret"]) >= 40
    again = (await http.put(url, json=body, headers=owner.headers)).json()
    assert again["has_webhook_secret"] and again["webhook_secret"] is None, "shown once"
    assert (await http.get(url, headers=owner.headers)).json()["webhook_secret"] is None
    rotated = (await http.put(url, json={**body, "rotate_webhook_secret": True}, headers=owner.headers)).json()
    assert rotated["webhook_secret"] not in (None, first["webhook_secret"])
    dropped = (await http.put(url, json={"time_zone": ZONE, "hours": EVERY_DAY}, headers=owner.headers)).json()
    assert dropped["has_webhook_secret"] is False and dropped["notify"] == {"emails": []}


async def test_a_visitor_keeps_the_notice_a_member_may_waive_and_finds_their_bookings(
    http: httpx.AsyncClient, salon: dict, settings: Settings
) -> None:
    owner = salon["owner"]
    shop = await _bookable_bot(http, owner, name="Notice", min_notice_min=24 * 60)
    bot, service = shop["bot"], shop["service"]
    # The first two opening hours at least 30 minutes away: within the day's notice whatever the hour
    # now (at 16:31 they are tomorrow's 09:00 and 10:00, 16.5 and 17.5 h away).
    now = datetime.now(BERLIN)
    soon, also_soon = [
        start
        for day in (now.date(), now.date() + timedelta(days=1))
        for hour in (9, 10, 11, 13, 14, 15, 16)
        if (start := at(day, hour)) >= now + timedelta(minutes=30)
    ][:2]
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    conversation_id = uuid.uuid4()
    pool = await create_pool(settings.service_database_url("workflows"), settings, schema="workflows")
    try:
        with pytest.raises(BookingError, match="1 day's notice"):
            await booking.book(
                pool,
                settings,
                workspace_id=workspace_id,
                bot_id=bot_id,
                service_id=uuid.UUID(service["id"]),
                start=soon,
                name="Vis",
                email="vis@example.com",
                time_zone=ZONE,
                language="en",
                conversation_id=conversation_id,
                visitor_id="v_notice",
            )
        by_member = await _book(http, owner, bot, service, soon)
        assert by_member.status_code == 201, by_member.text
        made = await booking.book(
            pool,
            settings,
            workspace_id=workspace_id,
            bot_id=bot_id,
            service_id=uuid.UUID(service["id"]),
            start=at(salon["day"], 9),
            name="Vis",
            email="vis@example.com",
            time_zone=ZONE,
            language="de",
            conversation_id=conversation_id,
            visitor_id=None,
        )
        assert made.source == "chat" and made.language == "de"
        for visitor_id, conversation in (("v_notice", None), (None, conversation_id)):
            found = await booking.upcoming_for_visitor(
                pool, workspace_id=workspace_id, bot_id=bot_id, visitor_id=visitor_id, conversation_id=conversation
            )
            assert [a.id for a in found] == ([made.id] if conversation else [])
        moved = await booking.reschedule(
            pool,
            settings,
            workspace_id=workspace_id,
            appointment_id=made.id,
            start=also_soon,
            by="member",
        )
        assert moved.sequence == 1
        with pytest.raises(BookingError, match="notice"):
            await booking.reschedule(
                pool, settings, workspace_id=workspace_id, appointment_id=made.id, start=soon, by="visitor"
            )
        gone = await booking.cancel(pool, settings, workspace_id=workspace_id, appointment_id=made.id, by="visitor")
        assert gone.status == "cancelled" and gone.sequence == 2
        assert not await booking.upcoming_for_visitor(
            pool, workspace_id=workspace_id, bot_id=bot_id, visitor_id=None, conversation_id=conversation_id
        )
    finally:
        await pool.close()

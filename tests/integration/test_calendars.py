"""Connected calendars on the real stack: a real CalDAV server (Radicale) and local servers speaking
Google Calendar's and Microsoft Graph's wire formats, all started for the test session
(tests/stack_fixtures.py) with the stack pointed at them.

What an owner notices: each kind connects (CalDAV checked before it is saved, Google and Outlook through
the provider's consent page), the events they already have block time, bookings land in each calendar
and follow a move and a cancellation, an expired Google token is refreshed without them, a calendar
that is down is reported (never a 500), and no password or token ever comes back or sits in the
database in the clear.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from cortex.db import create_pool
from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER, CalendarServers
from cortex.settings import Settings
from cortex.workflows.calendars import busy_everywhere, connected, write_event
from cortex.workflows.scheduling.models import Appointment, Interval
from tests.stack_fixtures import RunningStack

from .accounts import Account, register


@pytest.fixture
def servers(running_stack: RunningStack) -> CalendarServers:
    return running_stack.calendars


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool as the workflows service's own role, as a replica's."""
    pool = await create_pool(settings.service_database_url("workflows"), settings, schema="workflows")
    yield pool
    await pool.close()


def _day() -> datetime:
    """A day of its own for one test (the stand-ins' calendars are shared by the session's tests)."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=random.randrange(30, 3000))


def _ics(uid: str, start: datetime, end: datetime, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\nSUMMARY:Dentist\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


async def _connect_caldav(http: httpx.AsyncClient, owner: Account, servers: CalendarServers, **body: object) -> dict:
    name = f"cal-{uuid.uuid4().hex[:8]}"
    url = servers.radicale.make_calendar(CALDAV_USER, name, display_name=f"Salon {name}")
    response = await http.post(
        "/api/langgraph/calendars",
        json={"kind": "caldav", "url": url, "username": CALDAV_USER, "password": CALDAV_PASSWORD, **body},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "collection": name}


async def _connect_oauth(http: httpx.AsyncClient, owner: Account, provider: str, **body: object) -> dict:
    """Connect as the owner's browser would: start, the provider's consent page, back to the callback."""
    started = await http.post(f"/api/langgraph/calendars/oauth/{provider}/start", json=body, headers=owner.headers)
    assert started.status_code == 200, started.text
    async with httpx.AsyncClient(timeout=10) as browser_at_provider:
        consent = await browser_at_provider.get(started.json()["authorize_url"])
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    back = await http.get(f"{callback.path}?{callback.query}")
    assert back.status_code == 303, back.text
    result = parse_qs(urlsplit(back.headers["location"]).fragment.partition("?")[2])
    assert "calendar_id" in result, f"not connected: {result}"
    calendars = (await http.get("/api/langgraph/calendars", headers=owner.headers)).json()
    return next(c for c in calendars if c["id"] == result["calendar_id"][0])


async def _resource(pool: asyncpg.Pool, owner: Account) -> uuid.UUID:
    resource_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO resources (id, workspace_id, bot_id, name) VALUES ($1, $2, $3, $4)",
        resource_id,
        uuid.UUID(owner.workspace_id),
        uuid.uuid4(),
        f"Chair {resource_id.hex[:6]}",
    )
    return resource_id


async def _appointment(pool: asyncpg.Pool, owner: Account, resource_id: uuid.UUID, start: datetime) -> Appointment:
    appointment_id = uuid.uuid4()
    end = start + timedelta(minutes=45)
    row = await pool.fetchrow(
        """
        INSERT INTO appointments (id, workspace_id, bot_id, resource_id, service_name, name, email, starts_at,
                                  ends_at, blocked, time_zone, uid)
        VALUES ($1, $2, $3, $4, 'Haircut', 'Ada Visitor', 'ada@visitor.example', $5, $6, tstzrange($5, $6),
                'Europe/Paris', $7)
        RETURNING *
        """,
        appointment_id,
        uuid.UUID(owner.workspace_id),
        uuid.uuid4(),
        resource_id,
        start,
        end,
        f"{appointment_id}@cortex.test",
    )
    assert row is not None
    fields = {name: row[name] for name in Appointment.__dataclass_fields__ if name in row}
    return Appointment(**fields)


def _covers(spans: list[Interval], start: datetime, end: datetime) -> bool:
    return any(span.start <= start and span.end >= end for span in spans)


# -- CalDAV -----------------------------------------------------------------------------------------------


async def test_a_caldav_calendar_connects_and_its_own_events_block_time(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="CalDAV salon")
    calendar = await _connect_caldav(http, owner, servers)
    assert calendar["kind"] == "caldav" and calendar["status"] == "ok"
    assert calendar["name"].startswith("Salon cal-"), "named after the calendar itself"
    assert calendar["url"].endswith(f"/{calendar['collection']}/") and calendar["username"] == CALDAV_USER

    # Events the owner has in that calendar, made with another client: one, a weekly one, an all-day one.
    day = _day()
    radicale = servers.radicale
    radicale.put_event(
        CALDAV_USER, calendar["collection"], "one", _ics("one", day + timedelta(hours=9), day + timedelta(hours=10))
    )
    weekly_start = day + timedelta(hours=14)
    radicale.put_event(
        CALDAV_USER,
        calendar["collection"],
        "weekly",
        _ics("weekly", weekly_start, weekly_start + timedelta(minutes=30), "RRULE:FREQ=WEEKLY;COUNT=4\r\n"),
    )
    all_day = (day + timedelta(days=2)).date()
    radicale.put_event(
        CALDAV_USER,
        calendar["collection"],
        "holiday",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:holiday\r\n"
        f"DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:{all_day:%Y%m%d}\r\n"
        f"DTEND;VALUE=DATE:{all_day + timedelta(days=1):%Y%m%d}\r\nSUMMARY:Closed\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    radicale.put_event(
        CALDAV_USER,
        calendar["collection"],
        "free",
        _ics("free", day + timedelta(hours=11), day + timedelta(hours=12), "TRANSP:TRANSPARENT\r\n"),
    )

    calendars = await connected(pool, settings, workspace_id=uuid.UUID(owner.workspace_id))
    assert [c.name for c in calendars] == [calendar["name"]]
    result = await busy_everywhere(pool, calendars, day, day + timedelta(days=30), timeout_s=5)
    assert not result.failed
    busy = result.busy[None]
    assert _covers(busy, day + timedelta(hours=9), day + timedelta(hours=10))
    for week in range(4):
        start = weekly_start + timedelta(weeks=week)
        assert _covers(busy, start, start + timedelta(minutes=30)), f"occurrence {week + 1} of the weekly event"
    assert not _covers(busy, weekly_start + timedelta(weeks=4), weekly_start + timedelta(weeks=4, minutes=30))
    holiday = datetime.combine(all_day, datetime.min.time(), tzinfo=UTC)
    assert _covers(busy, holiday, holiday + timedelta(days=1)), "the all-day event blocks its day (UTC calendar)"
    assert not _covers(busy, day + timedelta(hours=11), day + timedelta(hours=12)), "a 'free' event blocks nothing"

    tested = await http.post(f"/api/langgraph/calendars/{calendar['id']}/test", headers=owner.headers)
    assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text


async def test_all_day_events_are_read_in_the_business_time_zone(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Paris salon")
    await pool.execute(
        "INSERT INTO booking_settings (workspace_id, bot_id, time_zone, hours) VALUES ($1, $2, 'Europe/Paris', '{}')",
        uuid.UUID(owner.workspace_id),
        uuid.uuid4(),
    )
    calendar = await _connect_caldav(http, owner, servers)  # no time zone given: the business's
    holiday = (_day() + timedelta(days=1)).date()
    servers.radicale.put_event(
        CALDAV_USER,
        calendar["collection"],
        "holiday",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:holiday\r\n"
        f"DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:{holiday:%Y%m%d}\r\n"
        f"DTEND;VALUE=DATE:{holiday + timedelta(days=1):%Y%m%d}\r\nSUMMARY:Closed\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    paris = ZoneInfo("Europe/Paris")
    midnight = datetime.combine(holiday, datetime.min.time(), tzinfo=paris)
    calendars = await connected(pool, settings, workspace_id=uuid.UUID(owner.workspace_id))
    start = midnight - timedelta(days=1)
    result = await busy_everywhere(pool, calendars, start, start + timedelta(days=3), timeout_s=5)
    assert result.busy[None] == [Interval(midnight.astimezone(UTC), (midnight + timedelta(days=1)).astimezone(UTC))]


async def test_a_wrong_caldav_password_or_a_url_into_our_network_is_refused_and_nothing_is_saved(
    http: httpx.AsyncClient, servers: CalendarServers
) -> None:
    owner = await register(http, workspace="Careful salon")
    url = servers.radicale.make_calendar(CALDAV_USER, f"cal-{uuid.uuid4().hex[:8]}")
    wrong = await http.post(
        "/api/langgraph/calendars",
        json={"url": url, "username": CALDAV_USER, "password": "not-the-password"},
        headers=owner.headers,
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["code"] == "calendar_unavailable"
    assert "user name or password" in wrong.json()["error"]["message"]
    assert "not-the-password" not in wrong.text

    for hostile, code in (
        ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("http://10.0.0.7/dav/", "blocked_address"),
        ("http://[::ffff:169.254.169.254]/", "blocked_address"),
        ("file:///etc/passwd", "bad_scheme"),
    ):
        refused = await http.post(
            "/api/langgraph/calendars",
            json={"url": hostile, "username": "u", "password": "p"},
            headers=owner.headers,
        )
        assert refused.status_code == 422, f"{hostile}: {refused.text}"
        assert refused.json()["error"]["code"] == code, f"{hostile}: {refused.text}"
    nowhere = await http.post(
        "/api/langgraph/calendars",
        json={"url": "https://calendar.invalid/dav/", "username": "u", "password": "p"},
        headers=owner.headers,
    )
    assert nowhere.status_code == 422 and nowhere.json()["error"]["code"] == "calendar_unavailable", nowhere.text
    assert (await http.get("/api/langgraph/calendars", headers=owner.headers)).json() == []


async def test_members_read_the_calendars_and_only_admins_connect_change_or_disconnect_them(
    http: httpx.AsyncClient, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    from .accounts import member_of

    owner = await register(http, workspace="Roles salon")
    calendar = await _connect_caldav(http, owner, servers)
    viewer = await member_of(http, owner, "viewer")
    assert [c["id"] for c in (await http.get("/api/langgraph/calendars", headers=viewer.headers)).json()] == [
        calendar["id"]
    ]
    for method, path in (
        ("POST", "/api/langgraph/calendars"),
        ("PATCH", f"/api/langgraph/calendars/{calendar['id']}"),
        ("DELETE", f"/api/langgraph/calendars/{calendar['id']}"),
        ("POST", f"/api/langgraph/calendars/{calendar['id']}/test"),
        ("POST", "/api/langgraph/calendars/oauth/google/start"),
    ):
        denied = await http.request(method, path, json={"url": "https://x.example/"}, headers=viewer.headers)
        assert denied.status_code == 403, f"{method} {path}: {denied.text}"

    resource_id = await _resource(pool, owner)
    patched = await http.patch(
        f"/api/langgraph/calendars/{calendar['id']}",
        json={"name": "Anna's chair", "resource_id": str(resource_id), "write_bookings": False},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["resource_id"], patched.json()["write_bookings"]) == (
        "Anna's chair",
        str(resource_id),
        False,
    )
    cleared = await http.patch(
        f"/api/langgraph/calendars/{calendar['id']}", json={"resource_id": None}, headers=owner.headers
    )
    assert cleared.json()["resource_id"] is None and cleared.json()["name"] == "Anna's chair"
    foreign = await http.patch(
        f"/api/langgraph/calendars/{calendar['id']}", json={"resource_id": str(uuid.uuid4())}, headers=owner.headers
    )
    assert foreign.status_code == 404, "a resource of no (or another) workspace"

    assert (await http.delete(f"/api/langgraph/calendars/{calendar['id']}", headers=owner.headers)).status_code == 204
    assert (await http.delete(f"/api/langgraph/calendars/{calendar['id']}", headers=owner.headers)).status_code == 404
    assert (await http.get("/api/langgraph/calendars", headers=owner.headers)).json() == []
    assert await pool.fetchval("SELECT count(*) FROM calendars WHERE id = $1", uuid.UUID(calendar["id"])) == 0


# -- Google and Outlook ------------------------------------------------------------------------------------


async def test_google_and_outlook_connect_through_their_consent_pages_and_their_busy_time_counts(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Cloud salon")
    google = await _connect_oauth(http, owner, "google")
    outlook = await _connect_oauth(http, owner, "outlook", name="Front desk")
    assert (google["kind"], google["account"], google["status"]) == ("google", servers.google.user, "ok")
    assert (outlook["kind"], outlook["name"], outlook["account"]) == ("outlook", "Front desk", servers.graph.user)

    day = _day()
    servers.google.add_event("Team meeting", day + timedelta(hours=9), day + timedelta(hours=10))
    servers.google.add_event(
        "Lunch (free)", day + timedelta(hours=12), day + timedelta(hours=13), transparency="transparent"
    )
    servers.graph.add_event("Supplier call", day + timedelta(hours=15), day + timedelta(hours=16))
    servers.graph.add_event("Maybe", day + timedelta(hours=17), day + timedelta(hours=18), show_as="free")

    calendars = await connected(pool, settings, workspace_id=uuid.UUID(owner.workspace_id))
    result = await busy_everywhere(pool, calendars, day, day + timedelta(days=1), timeout_s=5)
    assert not result.failed
    busy = result.busy[None]
    assert _covers(busy, day + timedelta(hours=9), day + timedelta(hours=10)), "Google's event"
    assert _covers(busy, day + timedelta(hours=15), day + timedelta(hours=16)), "Outlook's event"
    assert not _covers(busy, day + timedelta(hours=12, minutes=15), day + timedelta(hours=12, minutes=45))
    assert not _covers(busy, day + timedelta(hours=17, minutes=15), day + timedelta(hours=17, minutes=45))


async def test_the_oauth_callback_works_once_in_the_browser_that_started_it(
    http: httpx.AsyncClient, servers: CalendarServers, running_stack: RunningStack
) -> None:
    owner = await register(http, workspace="Phished salon")
    started = await http.post("/api/langgraph/calendars/oauth/google/start", json={}, headers=owner.headers)
    async with httpx.AsyncClient(timeout=10) as provider_browser:
        consent = await provider_browser.get(started.json()["authorize_url"])
    callback = urlsplit(consent.headers["location"])
    # Another browser (an attacker who sent the owner's consent link, or the other way round).
    async with httpx.AsyncClient(base_url=running_stack.url, timeout=10) as other_browser:
        stolen = await other_browser.get(f"{callback.path}?{callback.query}")
    assert stolen.status_code == 303
    assert "another browser" in parse_qs(urlsplit(stolen.headers["location"]).fragment.partition("?")[2])["error"][0]
    again = await http.get(f"{callback.path}?{callback.query}")
    assert "used already" in parse_qs(urlsplit(again.headers["location"]).fragment.partition("?")[2])["error"][0]
    # The owner said no on the consent page: told so on the dashboard, nothing connected.
    denied_start = await http.post("/api/langgraph/calendars/oauth/outlook/start", json={}, headers=owner.headers)
    state = parse_qs(urlsplit(denied_start.json()["authorize_url"]).query)["state"][0]
    denied = await http.get(callback.path, params={"state": state, "error": "access_denied"})
    assert (
        "access was not granted"
        in parse_qs(urlsplit(denied.headers["location"]).fragment.partition("?")[2])["error"][0]
    )
    forged = await http.get(f"{callback.path}?state=forged.state&code=x")
    assert forged.status_code == 303 and "error=" in forged.headers["location"]
    assert (await http.get("/api/langgraph/calendars", headers=owner.headers)).json() == []


async def test_an_expired_google_token_is_refreshed_and_the_new_one_is_kept_sealed(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Refreshing salon")
    google = await _connect_oauth(http, owner, "google")
    sealed_before = await pool.fetchval(
        "SELECT credentials_sealed FROM calendars WHERE id = $1", uuid.UUID(google["id"])
    )
    refreshes_before = sum(1 for r in servers.google.token_requests if r.get("grant_type") == "refresh_token")
    servers.google.expire_access_tokens()  # Google answers the stored access token with a 401 now

    tested = await http.post(f"/api/langgraph/calendars/{google['id']}/test", headers=owner.headers)
    assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
    assert (
        sum(1 for r in servers.google.token_requests if r.get("grant_type") == "refresh_token") == refreshes_before + 1
    )
    sealed_after = await pool.fetchval(
        "SELECT credentials_sealed FROM calendars WHERE id = $1", uuid.UUID(google["id"])
    )
    assert sealed_after != sealed_before, "the refreshed access token is stored (sealed)"
    # Kept: the next ask needs no refresh.
    assert (await http.post(f"/api/langgraph/calendars/{google['id']}/test", headers=owner.headers)).json()["ok"]
    assert (
        sum(1 for r in servers.google.token_requests if r.get("grant_type") == "refresh_token") == refreshes_before + 1
    )

    # Access revoked at Google: the calendar says so, it does not fail the request.
    servers.google.revoke_refresh_tokens()
    revoked = await http.post(f"/api/langgraph/calendars/{google['id']}/test", headers=owner.headers)
    assert revoked.status_code == 200 and revoked.json()["ok"] is False
    assert "connect it again" in revoked.json()["error"]
    listed = (await http.get("/api/langgraph/calendars", headers=owner.headers)).json()
    assert listed[0]["status"] == "error" and "connect it again" in listed[0]["last_error"]


# -- bookings written into every calendar ------------------------------------------------------------------


async def test_a_booking_is_written_into_each_calendar_then_moved_and_removed(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Writing salon")
    resource_id = await _resource(pool, owner)
    caldav = await _connect_caldav(http, owner, servers)
    google = await _connect_oauth(http, owner, "google")
    outlook = await _connect_oauth(http, owner, "outlook")
    other_chair = await _resource(pool, owner)
    read_only = await _connect_caldav(http, owner, servers, write_bookings=False)
    elsewhere = await _connect_caldav(http, owner, servers, resource_id=str(other_chair))
    chairs_own = await _connect_caldav(http, owner, servers, resource_id=str(resource_id))
    start = _day() + timedelta(hours=10)
    appointment = await _appointment(pool, owner, resource_id, start)

    assert await write_event(pool, settings, appointment, action="create") == []
    external = await pool.fetchval("SELECT external FROM appointments WHERE id = $1", appointment.id)
    assert set(external) == {caldav["id"], google["id"], outlook["id"], chairs_own["id"]}, (
        "not the read-only one, nor another chair's"
    )
    assert servers.radicale.events(CALDAV_USER, read_only["collection"]) == {}
    assert servers.radicale.events(CALDAV_USER, elsewhere["collection"]) == {}
    (ics,) = servers.radicale.events(CALDAV_USER, caldav["collection"]).values()
    assert f"UID:{appointment.uid}" in ics and "DTSTART:" + f"{start:%Y%m%dT%H%M%SZ}" in ics
    assert "Haircut: Ada Visitor" in ics
    google_event = next(e for e in servers.google.events() if e["id"] == external[google["id"]])
    assert google_event["summary"] == "Haircut: Ada Visitor"
    assert datetime.fromisoformat(google_event["start"]["dateTime"]) == start
    assert google_event["start"]["timeZone"] == "Europe/Paris"
    graph_event = next(e for e in servers.graph.events() if e["id"] == external[outlook["id"]])
    assert graph_event["start"] == {"dateTime": f"{start:%Y-%m-%dT%H:%M:%S}", "timeZone": "UTC"}
    # What was written blocks the time when those calendars are asked.
    calendars = await connected(pool, settings, workspace_id=uuid.UUID(owner.workspace_id))
    written = [c for c in calendars if str(c.id) in external]
    result = await busy_everywhere(pool, written, start - timedelta(hours=1), start + timedelta(hours=2), timeout_s=5)
    assert not result.failed and _covers(result.busy[None], start, start + timedelta(minutes=45))

    moved_start = start + timedelta(days=1, hours=2)
    moved = replace(appointment, starts_at=moved_start, ends_at=moved_start + timedelta(minutes=45), sequence=1)
    assert await write_event(pool, settings, moved, action="update") == []
    (ics,) = servers.radicale.events(CALDAV_USER, caldav["collection"]).values()
    assert f"DTSTART:{moved_start:%Y%m%dT%H%M%SZ}" in ics and "SEQUENCE:1" in ics
    google_event = next(e for e in servers.google.events() if e["id"] == external[google["id"]])
    assert datetime.fromisoformat(google_event["start"]["dateTime"]) == moved_start
    graph_event = next(e for e in servers.graph.events() if e["id"] == external[outlook["id"]])
    assert graph_event["start"]["dateTime"] == f"{moved_start:%Y-%m-%dT%H:%M:%S}"

    # Moved to the other chair: its calendar gets the event, the first chair's calendar loses it.
    moved = replace(moved, resource_id=other_chair, sequence=2)
    assert await write_event(pool, settings, moved, action="update") == []
    assert servers.radicale.events(CALDAV_USER, chairs_own["collection"]) == {}
    (ics,) = servers.radicale.events(CALDAV_USER, elsewhere["collection"]).values()
    assert f"UID:{appointment.uid}" in ics
    external = await pool.fetchval("SELECT external FROM appointments WHERE id = $1", appointment.id)
    assert set(external) == {caldav["id"], google["id"], outlook["id"], elsewhere["id"]}

    assert await write_event(pool, settings, moved, action="delete") == []
    assert servers.radicale.events(CALDAV_USER, caldav["collection"]) == {}
    assert servers.radicale.events(CALDAV_USER, elsewhere["collection"]) == {}
    assert next(e for e in servers.google.events() if e["id"] == external[google["id"]])["status"] == "cancelled"
    assert external[outlook["id"]] not in {e["id"] for e in servers.graph.events()}
    assert await pool.fetchval("SELECT external FROM appointments WHERE id = $1", appointment.id) == {}


# -- a calendar that is down -------------------------------------------------------------------------------


async def test_a_stopped_caldav_server_is_reported_as_failed_while_the_others_answer(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Flaky salon")
    caldav = await _connect_caldav(http, owner, servers)
    google = await _connect_oauth(http, owner, "google")
    day = _day()
    servers.google.add_event("Still busy", day + timedelta(hours=9), day + timedelta(hours=10))
    resource_id = await _resource(pool, owner)
    appointment = await _appointment(pool, owner, resource_id, day + timedelta(hours=13))
    servers.radicale.stop()
    try:
        calendars = await connected(pool, settings, workspace_id=uuid.UUID(owner.workspace_id))
        result = await busy_everywhere(
            pool, calendars, day, day + timedelta(days=1), timeout_s=settings.calendar_timeout_s
        )
        assert [c.name for c in result.failed] == [caldav["name"]]
        assert _covers(result.busy[None], day + timedelta(hours=9), day + timedelta(hours=10)), "Google still counts"

        listed = {c["id"]: c for c in (await http.get("/api/langgraph/calendars", headers=owner.headers)).json()}
        assert listed[caldav["id"]]["status"] == "error" and "cannot be reached" in listed[caldav["id"]]["last_error"]
        assert listed[google["id"]]["status"] == "ok"
        tested = await http.post(f"/api/langgraph/calendars/{caldav['id']}/test", headers=owner.headers)
        assert tested.status_code == 200 and tested.json()["ok"] is False, tested.text

        # Writing a booking: the CalDAV calendar is named as failed, Google gets it.
        assert await write_event(pool, settings, appointment, action="create") == [caldav["name"]]
        external = await pool.fetchval("SELECT external FROM appointments WHERE id = $1", appointment.id)
        assert set(external) == {google["id"]}
    finally:
        servers.radicale.start()
    tested = await http.post(f"/api/langgraph/calendars/{caldav['id']}/test", headers=owner.headers)
    assert tested.json()["ok"] is True and tested.json()["calendar"]["status"] == "ok"
    assert tested.json()["calendar"]["last_error"] is None


# -- secrets -----------------------------------------------------------------------------------------------


async def test_no_password_or_token_is_ever_returned_or_stored_in_the_clear(
    http: httpx.AsyncClient, settings: Settings, servers: CalendarServers, pool: asyncpg.Pool
) -> None:
    owner = await register(http, workspace="Secretive salon")
    caldav = await _connect_caldav(http, owner, servers)
    google = await _connect_oauth(http, owner, "google")
    outlook = await _connect_oauth(http, owner, "outlook")
    tokens = [
        token
        for provider in (servers.google, servers.graph)
        for token in [*provider.access_tokens, *provider.refresh_tokens]
    ]
    assert tokens
    answers = [
        (await http.get("/api/langgraph/calendars", headers=owner.headers)).text,
        *[
            (await http.post(f"/api/langgraph/calendars/{c['id']}/test", headers=owner.headers)).text
            for c in (caldav, google, outlook)
        ],
    ]
    rows = await pool.fetch(
        "SELECT config::text AS config, credentials_sealed FROM calendars WHERE workspace_id = $1",
        uuid.UUID(owner.workspace_id),
    )
    assert len(rows) == 3
    stored = [row["config"] for row in rows] + [bytes(row["credentials_sealed"]).decode("latin-1") for row in rows]
    for secret in [CALDAV_PASSWORD, *tokens, settings.google_client_secret or "", settings.ms_client_secret or ""]:
        assert secret
        for text in [*answers, *stored]:
            assert secret not in text
    assert all(bytes(row["credentials_sealed"]).startswith(b"cbx1:") for row in rows)


async def test_an_unknown_provider_or_time_zone_is_a_clear_422(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Unknown provider salon")
    unknown = await http.post("/api/langgraph/calendars/oauth/yahoo/start", json={}, headers=owner.headers)
    assert unknown.status_code == 422, unknown.text
    bad_body = await http.post(
        "/api/langgraph/calendars",
        json={"url": "https://x.example/", "time_zone": "Mars/Olympus"},
        headers=owner.headers,
    )
    assert bad_body.status_code == 422, bad_body.text

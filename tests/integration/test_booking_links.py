"""The mails a booking sends and the links in them, on the real stack: the visitor's confirmation
carries an invitation calendar clients accept (REQUEST, the appointment's UID, the visitor's local
time) and signed links; GET on a link shows a page and changes nothing (mail scanners open every
link); POST cancels or moves the appointment and the visitor gets a METHOD:CANCEL or an updated
REQUEST; forged, expired and used-up links get a page that says so, with a 4xx."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from cortex import signed
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account, register
from .chatting import make_bot
from .mailbox import mail_to, text_of

S = "/api/langgraph/schedule"
BUSINESS = ZoneInfo("Europe/Berlin")
VISITOR_ZONE = "America/New_York"
EVERY_DAY = {str(day): [["09:00", "17:00"]] for day in range(1, 8)}
LINK = re.compile(r"/api/langgraph/schedule/links/([A-Za-z0-9_.-]+)")


def _calendar_of(message: EmailMessage) -> tuple[str, Calendar]:
    """The invitation of a mail: its text/calendar part's method and the parsed calendar."""
    parts = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [part.get_content_type() for part in message.walk()]
    [attachment] = [part for part in message.walk() if part.get_filename() == "invite.ics"]
    calendar = Calendar.from_ical(parts[0].get_content())
    assert Calendar.from_ical(attachment.get_content()) == calendar, "the attachment is the same invitation"
    return str(parts[0].get_param("method")), calendar


def _links(message: EmailMessage) -> dict[str, str]:
    """The mail's reschedule and cancel link tokens, by what their label says."""
    found = {}
    for line in text_of(message).splitlines():
        match = LINK.search(line)
        if match:
            found["cancel" if "Cancel" in line else "reschedule"] = match.group(1)
    return found


@pytest.fixture(scope="module")
async def salon(http: httpx.AsyncClient) -> dict:
    owner = await register(http, workspace="Link salon")
    bot = await make_bot(http, owner, name="Link salon")
    put = await http.put(
        f"{S}/settings/{bot['id']}",
        json={
            "time_zone": "Europe/Berlin",
            "hours": EVERY_DAY,
            "min_notice_min": 60,
            "horizon_days": 30,
            "reminder_hours": [24],
            "notify": {"emails": [f"owner-{uuid.uuid4().hex[:8]}@example.com"]},
        },
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{S}/services", json={"bot_id": bot["id"], "name": "Beard trim", "duration_min": 30}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    return {"owner": owner, "bot": bot, "service": service.json(), "notify": put.json()["notify"]["emails"][0]}


async def _book(http: httpx.AsyncClient, salon: dict, *, days: int, hour: int) -> tuple[dict, str]:
    owner: Account = salon["owner"]
    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    day = datetime.now(BUSINESS).date() + timedelta(days=days)
    start = datetime.combine(day, time(hour), tzinfo=BUSINESS)
    booked = await http.post(
        f"{S}/bookings",
        json={
            "bot_id": salon["bot"]["id"],
            "service_id": salon["service"]["id"],
            "start": start.isoformat(),
            "name": "Ingrid Ørsted",
            "email": email,
            "time_zone": VISITOR_ZONE,
        },
        headers=owner.headers,
    )
    assert booked.status_code == 201, booked.text
    return booked.json(), email


async def test_the_confirmation_carries_an_invitation_in_the_visitors_time_and_signed_links(
    http: httpx.AsyncClient, running_stack: RunningStack, salon: dict
) -> None:
    appointment, email = await _book(http, salon, days=4, hour=10)
    [mail] = await mail_to(running_stack.home, email)
    assert "Beard trim" in mail["Subject"]
    assert mail["Reply-To"] == salon["notify"], "the visitor's reply reaches the business"
    method, calendar = _calendar_of(mail)
    assert method == "REQUEST" and calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    start = datetime.fromisoformat(appointment["starts_at"])
    assert event.decoded("DTSTART") == start and event["DTSTART"].params["TZID"] == VISITOR_ZONE
    assert event["SEQUENCE"] == 0 and str(event["UID"]) == f"{appointment['id']}@cortex"
    assert str(event["ATTENDEE"]) == f"mailto:{email}"
    # The text says the time as the visitor reads it, in their zone.
    local = start.astimezone(ZoneInfo(VISITOR_ZONE))
    assert f"{local.hour:02d}:{local.minute:02d} ({VISITOR_ZONE})" in text_of(mail)
    assert set(_links(mail)) == {"cancel", "reschedule"}
    # The owner hears of it too (a notify_owner task, by mail).
    notices = await mail_to(running_stack.home, salon["notify"], timeout_s=30)
    assert any("Beard trim" in notice["Subject"] and email in text_of(notice) for notice in notices)


async def test_a_cancel_link_shows_a_page_on_get_and_cancels_only_on_post(
    http: httpx.AsyncClient, running_stack: RunningStack, salon: dict
) -> None:
    appointment, email = await _book(http, salon, days=5, hour=11)
    [confirmation] = await mail_to(running_stack.home, email)
    token = _links(confirmation)["cancel"]

    # Opened twice, as a mail scanner and then the visitor would: a page, and nothing changes.
    for _ in range(2):
        page = await http.get(f"{S}/links/{token}")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "Beard trim" in page.text and 'method="post"' in page.text and "<script" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer" and "no-store" in page.headers["cache-control"]
    still = await http.get(f"{S}/bookings/{appointment['id']}", headers=salon["owner"].headers)
    assert still.json()["status"] == "booked", "GET on a link never acts"

    done = await http.post(f"{S}/links/{token}")
    assert done.status_code == 200, done.text
    assert "cancelled" in done.text
    gone = await http.get(f"{S}/bookings/{appointment['id']}", headers=salon["owner"].headers)
    assert gone.json()["status"] == "cancelled"

    _, cancellation = await mail_to(running_stack.home, email, count=2)
    method, calendar = _calendar_of(cancellation)
    [event] = calendar.walk("VEVENT")
    assert method == "CANCEL" and calendar["METHOD"] == "CANCEL" and event["STATUS"] == "CANCELLED"
    assert str(event["UID"]) == f"{appointment['id']}@cortex" and event["SEQUENCE"] == 1

    # The same link again: the appointment is already cancelled.
    again = await http.post(f"{S}/links/{token}")
    assert again.status_code == 410 and "already cancelled" in again.text
    assert (await http.get(f"{S}/links/{token}")).status_code == 410


async def test_a_reschedule_link_offers_free_times_and_moves_the_appointment(
    http: httpx.AsyncClient, running_stack: RunningStack, salon: dict
) -> None:
    appointment, email = await _book(http, salon, days=6, hour=14)
    [confirmation] = await mail_to(running_stack.home, email)
    token = _links(confirmation)["reschedule"]
    page = await http.get(f"{S}/links/{token}")
    assert page.status_code == 200, page.text
    offered = re.findall(r'name="start" value="([^"]+)"', page.text)
    assert offered, page.text
    assert appointment["starts_at"] not in offered
    assert (await http.get(f"{S}/bookings/{appointment['id']}", headers=salon["owner"].headers)).json()[
        "starts_at"
    ] == appointment["starts_at"], "GET moved nothing"

    # The page pages on to later times; a time two days out keeps its 24-hour reminder.
    later = re.search(r'href="([^"]+\?after=[^"]+)"', page.text)
    assert later, "the page offers later times"
    two_days = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = await http.get(f"{S}/links/{token}", params={"after": two_days})
    offered = re.findall(r'name="start" value="([^"]+)"', page.text)
    assert offered and all(datetime.fromisoformat(start) >= datetime.fromisoformat(two_days) for start in offered)
    new_start = offered[0]
    moved = await http.post(f"{S}/links/{token}", data={"start": new_start})
    assert moved.status_code == 200, moved.text
    now = (await http.get(f"{S}/bookings/{appointment['id']}", headers=salon["owner"].headers)).json()
    assert datetime.fromisoformat(now["starts_at"]) == datetime.fromisoformat(new_start)

    _, update = await mail_to(running_stack.home, email, count=2)
    method, calendar = _calendar_of(update)
    [event] = calendar.walk("VEVENT")
    assert method == "REQUEST" and event["SEQUENCE"] == 1 and str(event["UID"]) == f"{appointment['id']}@cortex"
    assert event.decoded("DTSTART") == datetime.fromisoformat(new_start)
    # The reminder moved with the appointment.
    tasks = await http.get(
        "/api/langgraph/tasks",
        params={"appointment_id": appointment["id"], "kind": "reminder"},
        headers=salon["owner"].headers,
    )
    [reminder] = [task for task in tasks.json() if task["status"] == "queued"]
    assert datetime.fromisoformat(reminder["due_at"]) == datetime.fromisoformat(new_start) - timedelta(hours=24)

    # A time that is not a time is a page asking again, not a 500.
    bad = await http.post(f"{S}/links/{token}", data={"start": "next tuesday"})
    assert bad.status_code == 422 and "Choose a new time" in bad.text


async def test_forged_expired_and_foreign_links_get_a_clear_page(
    http: httpx.AsyncClient, settings: Settings, salon: dict
) -> None:
    appointment, _ = await _book(http, salon, days=7, hour=9)
    claims = {"appointment": appointment["id"], "workspace": salon["owner"].workspace_id, "action": "cancel"}
    good = signed.sign(settings, "booking-link", claims, ttl_s=3600)
    body, _, mac = good.partition(".")
    forged = f"{body}.{mac[:-2]}{'AA' if not mac.endswith('AA') else 'BB'}"
    expired = signed.sign(settings, "booking-link", claims, ttl_s=-10)
    other_purpose = signed.sign(settings, "unsubscribe", claims, ttl_s=3600)
    other_workspace = signed.sign(settings, "booking-link", {**claims, "workspace": str(uuid.uuid4())}, ttl_s=3600)
    cases = {
        forged: (400, "not valid"),
        "not-a-token": (400, "not valid"),
        other_purpose: (400, "not valid"),
        expired: (410, "expired"),
        other_workspace: (404, "no longer exists"),
    }
    for token, (status, words) in cases.items():
        for method in ("GET", "POST"):
            page = await http.request(method, f"{S}/links/{token}")
            assert page.status_code == status, (method, token, page.text)
            assert page.headers["content-type"].startswith("text/html") and words in page.text
    booked = await http.get(f"{S}/bookings/{appointment['id']}", headers=salon["owner"].headers)
    assert booked.json()["status"] == "booked", "no refused link changed anything"
    assert (await http.get(f"{S}/links/{good}")).status_code == 200
    assert datetime.fromisoformat(booked.json()["starts_at"]) > datetime.now(UTC)

"""A visitor books, moves and cancels an appointment through the widget, in a real browser in Berlin.

The owner's bot books (hours, one service) and writes its bookings into a CalDAV calendar on the
Radicale server the test session runs. The visitor picks an offered slot with its button, gives a
name and an e-mail, then moves and cancels the appointment in the chat. After each step: the
appointment in the built-in calendar (the schedule API), the event in Radicale, and the mails in
the SMTP sink, each with an invitation icalendar parses (METHOD:REQUEST, then CANCEL), one UID and
a rising SEQUENCE.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar
from playwright.async_api import Browser, Frame, Request

from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER
from tests.integration.accounts import Account, register
from tests.integration.mailbox import mail_to
from tests.stack_fixtures import RunningStack

from .conftest import HostSite, Tab
from .widget import ask, host_page, wait_bot_answers, widget_frame

BERLIN = ZoneInfo("Europe/Berlin")
S = "/api/langgraph/schedule"
BOT_MESSAGES = "li.message.bot[data-id]:not([data-id='welcome'])"


async def _booking_bot(http: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    body = {"name": "Studio Lumen", "llm": {"backend": "extractive"}, "appearance": {"title": "Studio Lumen"}}
    bot = await http.post("/api/bots", json=body, headers=owner.headers)
    assert bot.status_code == 201, bot.text
    bot_id = bot.json()["id"]
    put = await http.put(
        f"{S}/settings/{bot_id}",
        json={
            "time_zone": "Europe/Berlin",
            "hours": {str(day): [["08:00", "20:00"]] for day in range(1, 8)},
            "min_notice_min": 60,
            "notify": {"emails": [owner.email]},
        },
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{S}/services", json={"bot_id": bot_id, "name": "Consultation", "duration_min": 30}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    return bot.json()


async def _connect_radicale(http: httpx.AsyncClient, owner: Account, running_stack: RunningStack) -> str:
    """A CalDAV calendar on the session's Radicale, connected as the owner would: bookings are written into it."""
    collection = f"studio-{uuid.uuid4().hex[:8]}"
    url = running_stack.calendars.radicale.make_calendar(CALDAV_USER, collection, display_name="Studio Lumen")
    response = await http.post(
        "/api/langgraph/calendars",
        json={"kind": "caldav", "url": url, "username": CALDAV_USER, "password": CALDAV_PASSWORD},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["write_bookings"] is True
    return collection


async def _reply(frame: Frame, count: int) -> tuple[Any, str]:
    """The `count`-th bot reply once it is stored, and its text."""
    await wait_bot_answers(frame, count)
    reply = frame.locator(BOT_MESSAGES).nth(count - 1)
    return reply, " ".join((await reply.locator(".bubble").inner_text()).split())


async def _appointment(http: httpx.AsyncClient, owner: Account, bot: dict[str, Any]) -> dict[str, Any]:
    listed = await http.get(f"{S}/bookings", params={"bot_id": bot["id"]}, headers=owner.headers)
    assert listed.status_code == 200, listed.text
    [appointment] = listed.json()
    return appointment


def _invitation(message: EmailMessage) -> tuple[str, Any]:
    """The mail's text/calendar part: its METHOD and its one VEVENT, as icalendar parses them."""
    [part, *_] = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    calendar = Calendar.from_ical(part.get_content())
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def _radicale_event(running_stack: RunningStack, collection: str) -> str | None:
    events = running_stack.calendars.radicale.events(CALDAV_USER, collection)
    assert len(events) <= 1, events
    return next(iter(events.values()), None)


async def _subjects_until(running_stack: RunningStack, address: str, prefixes: tuple[str, ...]) -> list[str]:
    """The subjects of the mail to `address` once one starts with each of `prefixes` (or after a minute)."""
    deadline = time.monotonic() + 60
    while True:
        subjects = [str(message["Subject"]) for message in await mail_to(running_stack.home, address)]
        done = all(any(subject.startswith(prefix) for subject in subjects) for prefix in prefixes)
        if done or time.monotonic() > deadline:
            return subjects
        await asyncio.sleep(0.2)


def _next(weekday: int, today: date) -> date:
    """The first `weekday` (0 Monday) after today."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


async def test_a_visitor_books_moves_and_cancels_through_the_widget(
    http: httpx.AsyncClient, running_stack: RunningStack, host_site: HostSite, browser: Browser
) -> None:
    owner = await register(http)
    bot = await _booking_bot(http, owner)
    collection = await _connect_radicale(http, owner, running_stack)
    key = await http.post(
        "/api/auth/widget-keys",
        json={"bot_id": bot["id"], "allowed_origins": [host_site.origin]},
        headers=owner.headers,
    )
    assert key.status_code == 201, key.text
    url = host_site.add("/studio.html", host_page(running_stack.url, key.json()["public_key"], title="Studio Lumen"))
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    context = await browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    try:
        page = await context.new_page()
        page.set_default_timeout(60_000)
        tab = Tab(page)
        page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: tab.console.append(f"error: {error}"))
        sent: list[dict[str, Any]] = []

        def record(request: Request) -> None:
            if request.url.endswith("/api/chat") and request.method == "POST":
                sent.append(json.loads(request.post_data or "{}"))

        page.on("request", record)
        await page.goto(url)
        frame = await widget_frame(page)
        await frame.locator("#launcher").click()
        await frame.locator("#panel").wait_for(state="visible")
        today = datetime.now(BERLIN).date()
        tuesday = _next(1, today)

        # Book: the offered slots are buttons; the visitor clicks the first.
        await ask(frame, "Could I book a consultation next Tuesday afternoon?")
        offer, text = await _reply(frame, 1)
        assert sent[0]["time_zone"] == "Europe/Berlin", "the widget sends the visitor's time zone"
        slots = offer.locator(".actions button.chip")
        assert await slots.count() >= 3, text
        label = await slots.first.inner_text()
        assert label.startswith(f"Tue {tuesday.day} "), label
        await tab.shot("booking-1-slots")
        await slots.first.click()
        _, text = await _reply(frame, 2)
        assert "name" in text.lower(), text
        assert sent[1]["time_zone"] == "Europe/Berlin" and sent[1]["conversation_id"] == sent[1]["conversation_id"]
        await ask(frame, "Ada Lovelace")
        _, text = await _reply(frame, 3)
        assert "e-mail" in text.lower(), text
        await ask(frame, email)
        _, text = await _reply(frame, 4)
        assert "booked" in text.lower(), text
        await tab.shot("booking-2-booked")

        booked = await _appointment(http, owner, bot)
        starts = datetime.fromisoformat(booked["starts_at"])
        assert booked["status"] == "booked" and booked["email"] == email and booked["name"] == "Ada Lovelace"
        assert starts.astimezone(BERLIN).date() == tuesday and starts.astimezone(BERLIN).hour >= 12
        assert booked["time_zone"] == "Europe/Berlin" and booked["service_name"] == "Consultation"
        [confirmation] = await mail_to(running_stack.home, email, timeout_s=60)
        assert confirmation["Subject"].startswith("Confirmed: Consultation"), confirmation["Subject"]
        method, event = _invitation(confirmation)
        assert method == "REQUEST" and str(event["UID"]) == booked["uid"] and int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == starts
        assert "/api/langgraph/schedule/links/" in confirmation.get_body(("plain",)).get_content()
        in_radicale = _radicale_event(running_stack, collection)
        assert in_radicale is not None and f"UID:{booked['uid']}" in in_radicale
        radicale_start = Calendar.from_ical(in_radicale).walk("VEVENT")[0].decoded("DTSTART")
        assert radicale_start == starts

        # Move it from the chat, to a day named by its date.
        target = today + timedelta(days=3)
        await ask(frame, f"Can I move my appointment to {target:%B} {target.day} at 3pm?")
        _, text = await _reply(frame, 5)
        assert text.startswith("Done: your Consultation is now on"), text
        await tab.shot("booking-3-moved")
        moved = await _appointment(http, owner, bot)
        moved_start = datetime.fromisoformat(moved["starts_at"])
        assert moved["id"] == booked["id"] and moved["status"] == "booked"
        assert moved_start == datetime(target.year, target.month, target.day, 15, tzinfo=BERLIN)
        _, update = await mail_to(running_stack.home, email, count=2, timeout_s=60)
        assert update["Subject"].startswith("Moved: Consultation"), update["Subject"]
        method, event = _invitation(update)
        assert method == "REQUEST" and str(event["UID"]) == booked["uid"] and int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART") == moved_start
        in_radicale = _radicale_event(running_stack, collection)
        assert in_radicale is not None
        assert Calendar.from_ical(in_radicale).walk("VEVENT")[0].decoded("DTSTART") == moved_start

        # Cancel it from the chat: the bot asks first, the visitor clicks Yes.
        await ask(frame, "Please cancel my appointment")
        question, text = await _reply(frame, 6)
        assert text.startswith("Shall I cancel your Consultation on"), text
        await question.locator(".actions button.chip", has_text="Yes").click()
        _, text = await _reply(frame, 7)
        assert "is cancelled" in text, text
        await tab.shot("booking-4-cancelled")
        cancelled = await _appointment(http, owner, bot)
        assert cancelled["id"] == booked["id"] and cancelled["status"] == "cancelled"
        *_, cancellation = await mail_to(running_stack.home, email, count=3, timeout_s=60)
        assert cancellation["Subject"].startswith("Cancelled: Consultation"), cancellation["Subject"]
        method, event = _invitation(cancellation)
        assert method == "CANCEL" and str(event["UID"]) == booked["uid"] and int(event["SEQUENCE"]) >= 2
        assert _radicale_event(running_stack, collection) is None, "the event left the connected calendar"

        # The owner was told of each step.
        told = ("New booking: Consultation", "Booking moved: Consultation", "Booking cancelled: Consultation")
        subjects = await _subjects_until(running_stack, owner.email, told)
        assert all(any(subject.startswith(prefix) for subject in subjects) for prefix in told), subjects
        assert not tab.errors, tab.errors
    finally:
        await context.close()

"""An owner runs bookings from the dashboard: sets a bot's hours (in the business's time zone, not the
browser's) and a service, sees an appointment booked through the API in the list and on the week's
calendar at the business's time, cancels it, and the week is free again. Bad input is explained
beside its field. The calendars tab connects a real CalDAV calendar (Radicale) and shows a wrong
password's reason.

The booking is made through the schedule API as a member would from another tool; the chat's own
bookings are tests/integration/test_booking_chat.py's and the widget's tests/e2e/test_widget_booking.py's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER
from tests.e2e.dashboard import sign_in
from tests.integration.accounts import Account, register
from tests.integration.chatting import eventually, make_bot
from tests.stack_fixtures import RunningStack

# The business keeps New York time; the test's browser runs in UTC: every time shown is New York's.
ZONE = "America/New_York"
SCHEDULE = "/api/langgraph/schedule"


async def _owner_with_bot(http: httpx.AsyncClient, name: str) -> tuple[Account, dict]:
    """A new owner and bot, once workflows knows the bot (it learns of it from core's event)."""
    owner = await register(http)
    bot = await make_bot(http, owner, name=name)

    async def known() -> bool:
        response = await http.get(f"{SCHEDULE}/settings/{bot['id']}", headers=owner.headers)
        return response.status_code == 200

    await eventually(known, within_s=30, what="workflows to know the bot")
    return owner, bot


def _next_wednesday_at_ten() -> datetime:
    now = datetime.now(ZoneInfo(ZONE))
    days = (2 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days + 7)).replace(hour=10, minute=0, second=0, microsecond=0)


async def test_an_owner_sets_hours_and_a_service_then_sees_and_cancels_a_booking(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    owner, bot = await _owner_with_bot(http, "Salon")
    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    await page.get_by_test_id("nav-bookings").click()
    await page.get_by_test_id("bookings-tab-settings").click()

    # A bot never set up: the server's defaults are shown (weekdays 9-17), and it says so.
    await expect(page.get_by_test_id("booking-not-set-up")).to_be_visible()
    await expect(page.get_by_test_id("hours-1-from")).to_have_value("09:00")
    await expect(page.get_by_test_id("hours-6").locator(".closed-label")).to_be_visible()

    # The owner's rules: New York time, a late Wednesday, Saturday mornings, a 15-minute buffer.
    await page.get_by_test_id("booking-time-zone").fill(ZONE)
    await page.get_by_test_id("hours-3-to").fill("19:00")
    await page.get_by_test_id("hours-6-add").click()
    await page.get_by_test_id("hours-6-from").fill("09:00")
    await page.get_by_test_id("hours-6-to").fill("13:00")
    await page.get_by_test_id("booking-buffer-min").fill("15")
    await page.get_by_test_id("booking-reminders").fill("24, 2")
    # A closing time before the opening: the reason is beside the hours, nothing is saved.
    await page.get_by_test_id("hours-2-to").fill("08:00")
    await page.get_by_test_id("save-booking-settings").click()
    await expect(page.get_by_test_id("error-banner")).to_contain_text("Could not save the booking settings")
    await expect(page.get_by_test_id("booking-hours").locator(".field-error")).to_contain_text(
        "must end after it starts"
    )
    await page.get_by_test_id("hours-2-to").fill("17:00")
    await page.get_by_test_id("save-booking-settings").click()
    await expect(page.get_by_test_id("booking-saved")).to_have_text("Saved.")
    await expect(page.get_by_test_id("booking-not-set-up")).to_be_hidden()

    saved = (await http.get(f"{SCHEDULE}/settings/{bot['id']}", headers=owner.headers)).json()
    assert saved["configured"] and saved["enabled"] and saved["time_zone"] == ZONE
    assert saved["hours"]["3"] == [["09:00", "19:00"]] and saved["hours"]["6"] == [["09:00", "13:00"]]
    assert "7" not in saved["hours"] and saved["buffer_min"] == 15 and saved["reminder_hours"] == [24, 2]
    # The first save gave the bot its one resource.
    await expect(page.get_by_test_id("resource-name")).to_have_text(["Main"])

    # A service: too short is explained beside its field; a real one is listed.
    await page.get_by_test_id("service-name-input").fill("Haircut")
    await page.get_by_test_id("service-duration-input").fill("3")
    await page.get_by_test_id("add-service").click()
    duration_field = page.locator(".field").filter(has=page.get_by_test_id("service-duration-input"))
    await expect(duration_field.locator(".field-error")).to_be_visible()
    await expect(page.get_by_test_id("service-row")).to_have_count(0)
    await page.get_by_test_id("service-duration-input").fill("45")
    await page.get_by_test_id("add-service").click()
    await expect(page.get_by_test_id("service-row")).to_have_count(1)
    await expect(page.get_by_test_id("service-name")).to_have_text("Haircut")
    await expect(page.get_by_test_id("service-duration")).to_have_text("45 min")
    # Renamed in its edit dialog (the same fields, filled in).
    await page.get_by_test_id("edit-service").click()
    dialog = page.get_by_test_id("edit-service-dialog")
    await expect(dialog.locator('[name="duration_min"]')).to_have_value("45")
    await dialog.locator('[name="name"]').fill("Haircut & wash")
    await dialog.get_by_test_id("save-service").click()
    await expect(page.get_by_test_id("service-name")).to_have_text("Haircut & wash")
    await expect(dialog).to_have_count(0)
    await tab.shot("dashboard-bookings-settings")

    # A booking made through the API, next-week-but-one Wednesday 10:00 New York time.
    services = (await http.get(f"{SCHEDULE}/services", params={"bot_id": bot["id"]}, headers=owner.headers)).json()
    start = _next_wednesday_at_ten()
    booked = await http.post(
        f"{SCHEDULE}/bookings",
        json={
            "bot_id": bot["id"],
            "service_id": services[0]["id"],
            "start": start.isoformat(),
            "name": "Ada Lovelace",
            "email": "ada@example.com",
        },
        headers=owner.headers,
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()

    # In the list, at the business's time (the browser's UTC would say 14:00 or 15:00).
    await page.get_by_test_id("bookings-tab-list").click()
    row = page.get_by_test_id("booking-row").filter(has_text="Ada Lovelace")
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("booking-when")).to_contain_text("10:00")
    await expect(row.get_by_test_id("booking-when")).to_contain_text("10:45")
    await expect(row.get_by_test_id("booking-when")).to_contain_text(ZONE)
    await expect(row.get_by_test_id("booking-service")).to_contain_text("Haircut")
    await expect(row.get_by_test_id("booking-status")).to_have_text("booked")
    await tab.shot("dashboard-bookings-list")

    # On the week's calendar: Wednesday's column, from 10:00 to 10:45 of a 08:00-19:00 day.
    week_of = start.date().isoformat()
    await page.goto(f"{running_stack.url}/dashboard#/bookings/week?bot_id={bot['id']}&week={week_of}")
    block = page.get_by_test_id("week-appointment").filter(has_text="Ada Lovelace")
    await expect(block).to_have_count(1)
    await expect(block).to_contain_text("10:00")
    wednesday = page.get_by_test_id("week-day").nth(2)
    await expect(wednesday).to_have_attribute("data-date", week_of)
    await expect(wednesday.get_by_test_id("week-appointment")).to_have_count(1)
    day_box = await wednesday.bounding_box()
    block_box = await block.bounding_box()
    assert day_box and block_box
    hours_shown = 11  # 08:00 (the earliest opening) to 19:00 (Wednesday's closing)
    top_hours = (block_box["y"] - day_box["y"]) / day_box["height"] * hours_shown
    height_hours = block_box["height"] / day_box["height"] * hours_shown
    assert abs(top_hours - 2) < 0.05 and abs(height_hours - 0.75) < 0.05, (top_hours, height_hours)
    # Sunday is closed: no opening band is drawn on it.
    await expect(page.get_by_test_id("week-day").nth(6).locator(".week-open")).to_have_count(0)
    await expect(page.get_by_test_id("week-day").nth(5).locator(".week-open")).to_have_count(1)
    await tab.shot("dashboard-bookings-week")

    # Cancel it from the list: it leaves the booked list and the week; the API says cancelled.
    await page.get_by_test_id("bookings-tab-list").click()
    await row.get_by_test_id("cancel-booking").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("booking-row").filter(has_text="Ada Lovelace")).to_have_count(0)
    await page.get_by_test_id("bookings-status-filter").select_option("any")
    await page.get_by_test_id("bookings-apply").click()
    cancelled = page.get_by_test_id("booking-row").filter(has_text="Ada Lovelace")
    await expect(cancelled.get_by_test_id("booking-status")).to_have_text("cancelled")
    await expect(cancelled.get_by_test_id("cancel-booking")).to_have_count(0)
    got = (await http.get(f"{SCHEDULE}/bookings/{appointment['id']}", headers=owner.headers)).json()
    assert got["status"] == "cancelled" and got["cancelled_at"]
    await page.goto(f"{running_stack.url}/dashboard#/bookings/week?bot_id={bot['id']}&week={week_of}")
    await expect(page.get_by_test_id("week-day")).to_have_count(7)
    await expect(page.get_by_test_id("week-appointment")).to_have_count(0)
    await tab.shot("dashboard-bookings-cancelled")
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors


async def test_busy_time_blocked_on_the_week_is_drawn_and_keeps_its_slots_free(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    owner, bot = await _owner_with_bot(http, "Studio")
    every_day = {str(day): [["09:00", "17:00"]] for day in range(1, 8)}
    put = await http.put(
        f"{SCHEDULE}/settings/{bot['id']}", json={"time_zone": ZONE, "hours": every_day}, headers=owner.headers
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{SCHEDULE}/services", json={"bot_id": bot["id"], "name": "Lesson", "duration_min": 60}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    monday = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=7 - datetime.now(ZoneInfo(ZONE)).weekday())
    await page.goto(f"{running_stack.url}/dashboard#/bookings/week?bot_id={bot['id']}&week={monday.isoformat()}")
    await expect(page.get_by_test_id("week-title")).to_contain_text(str(monday.day))

    # Lunch on Tuesday, blocked from the week's form.
    await page.get_by_test_id("busy-day").select_option((monday + timedelta(days=1)).isoformat())
    await page.get_by_test_id("busy-from").fill("12:00")
    await page.get_by_test_id("busy-to").fill("13:00")
    await page.get_by_test_id("busy-title").fill("Lunch")
    await page.get_by_test_id("add-busy").click()
    busy = page.get_by_test_id("week-day").nth(1).get_by_test_id("week-busy")
    await expect(busy).to_contain_text("Lunch")
    await tab.shot("dashboard-bookings-busy")

    # Nothing is offered over it.
    tuesday = datetime.combine(monday + timedelta(days=1), datetime.min.time(), ZoneInfo(ZONE))
    slots = await http.get(
        f"{SCHEDULE}/availability",
        params={
            "bot_id": bot["id"],
            "service_id": service.json()["id"],
            "from": tuesday.isoformat(),
            "to": (tuesday + timedelta(days=1)).isoformat(),
        },
        headers=owner.headers,
    )
    starts = [
        datetime.fromisoformat(s["start"]).astimezone(ZoneInfo(ZONE)).strftime("%H:%M") for s in slots.json()["slots"]
    ]
    assert "11:00" in starts and "13:00" in starts and "11:30" not in starts and "12:00" not in starts, starts

    # Removing it (a click, then confirm) frees the time again.
    await busy.click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("week-busy")).to_have_count(0)
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors


async def test_an_owner_connects_caldav_and_google_sees_their_status_and_disconnects(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    owner, bot = await _owner_with_bot(http, "Clinic")
    servers = running_stack.calendars
    calendar = f"clinic-{uuid.uuid4().hex[:6]}"
    url = servers.radicale.make_calendar(CALDAV_USER, calendar)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    stamp = "%Y%m%dT%H%M%SZ"
    servers.radicale.put_event(
        CALDAV_USER,
        calendar,
        "dentist",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:dentist@test\r\n"
        f"DTSTAMP:{soon.strftime(stamp)}\r\nDTSTART:{soon.strftime(stamp)}\r\n"
        f"DTEND:{(soon + timedelta(hours=1)).strftime(stamp)}\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    await page.goto(f"{running_stack.url}/dashboard#/bookings/calendars")
    await expect(page.get_by_text("No calendar connected")).to_be_visible()

    # A wrong password: refused with the calendar's reason, nothing connected.
    await page.get_by_test_id("caldav-name").fill("Clinic calendar")
    await page.get_by_test_id("caldav-url").fill(url)
    await page.get_by_test_id("caldav-username").fill(CALDAV_USER)
    await page.get_by_test_id("caldav-password").fill("not the password")
    await page.get_by_test_id("connect-caldav").click()
    await expect(page.get_by_test_id("error-banner")).to_contain_text("Could not connect the calendar")
    await expect(page.get_by_test_id("calendar-row")).to_have_count(0)

    # The right one: listed, answering; its test finds the one busy event of the coming week.
    await page.get_by_test_id("caldav-password").fill(CALDAV_PASSWORD)
    await page.get_by_test_id("connect-caldav").click()
    row = page.get_by_test_id("calendar-row").filter(has_text="Clinic calendar")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("CalDAV")
    await row.get_by_test_id("test-calendar").click()
    await expect(row.get_by_test_id("calendar-test-result")).to_have_text(
        "It answered: 1 busy time in the next 7 days."
    )
    await expect(row.get_by_test_id("calendar-status")).to_contain_text("ok")

    # Google through its sign-in: the browser leaves for the provider and comes back connected.
    await page.get_by_test_id("connect-google").click()
    await expect(page.get_by_test_id("calendar-connected")).to_be_visible()
    google = page.get_by_test_id("calendar-row").filter(has_text="Google Calendar")
    await expect(google).to_have_count(1)
    await expect(google.get_by_test_id("calendar-status")).to_contain_text("ok")
    await tab.shot("dashboard-bookings-calendars")

    # The CalDAV server goes down: the test says so, and the row shows it in red with the reason.
    servers.radicale.stop()
    try:
        await row.get_by_test_id("test-calendar").click()
        await expect(row.get_by_test_id("calendar-test-result")).to_contain_text("It did not answer")
        await expect(row.get_by_test_id("calendar-status")).to_contain_text("not answering")
        await expect(row.get_by_test_id("calendar-error")).not_to_be_empty()
        await tab.shot("dashboard-bookings-calendar-down")
    finally:
        servers.radicale.start()

    # Disconnect: gone from the list and from the API.
    await row.get_by_test_id("disconnect-calendar").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("calendar-row")).to_have_count(1)
    listed = (await http.get("/api/langgraph/calendars", headers=owner.headers)).json()
    assert [c["kind"] for c in listed] == ["google"]
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors

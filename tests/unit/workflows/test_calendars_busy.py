"""Busy time across calendars: spans merged and clipped, every calendar asked at once, a slow or broken
one reported in `failed` instead of failing the search, events read the way calendar apps mean them."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from cortex.workflows.calendars import BusyResult, CalendarUnavailable, EventSpec, Interval, busy_everywhere
from cortex.workflows.calendars.base import merge_intervals
from cortex.workflows.calendars.caldav import busy_of_component, event_ics

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_overlapping_and_touching_spans_merge_and_clip_to_the_window() -> None:
    spans = [Interval(at(3), at(4)), Interval(at(0), at(1)), Interval(at(0.5), at(2)), Interval(at(2), at(2.5))]
    assert merge_intervals(spans) == [Interval(at(0), at(2.5)), Interval(at(3), at(4))]
    assert merge_intervals(spans, start=at(1), end=at(3.5)) == [Interval(at(1), at(2.5)), Interval(at(3), at(3.5))]
    assert merge_intervals([Interval(at(5), at(6))], start=at(0), end=at(1)) == []


class FakeCalendar:
    """A connected calendar's behaviour seen from busy_everywhere: answers, fails, or hangs."""

    kind = "caldav"
    write_bookings = True

    def __init__(self, name: str, *, spans=(), delay_s: float = 0.0, error: Exception | None = None, resource_id=None):
        self.id = uuid.uuid4()
        self.name = name
        self.resource_id = resource_id
        self.spans = list(spans)
        self.delay_s = delay_s
        self.error = error

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.spans

    async def create(self, event: EventSpec) -> str:
        raise NotImplementedError

    async def update(self, external_id: str, event: EventSpec) -> None:
        raise NotImplementedError

    async def delete(self, external_id: str) -> None:
        raise NotImplementedError


class NoDatabase:
    """busy_everywhere records each answer on a ConnectedCalendar's row; these calendars have none."""

    async def execute(self, *args: object) -> str:
        raise AssertionError("nothing to record for calendars without a row")


async def test_every_calendar_is_asked_at_once_and_a_slow_or_broken_one_is_failed_not_raised() -> None:
    chair = uuid.uuid4()
    calendars = [
        FakeCalendar("shop", spans=[Interval(at(0), at(1)), Interval(at(0.5), at(1.5))], delay_s=0.2),
        FakeCalendar("anna", spans=[Interval(at(2), at(3))], delay_s=0.2, resource_id=chair),
        FakeCalendar("hung", delay_s=30),
        FakeCalendar("down", error=CalendarUnavailable("the CalDAV server cannot be reached")),
        FakeCalendar("buggy", error=KeyError("calendars")),
    ]
    started = time.monotonic()
    result = await busy_everywhere(NoDatabase(), calendars, at(0), at(8), timeout_s=0.5)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"asked one after another ({elapsed:.2f} s)"
    assert isinstance(result, BusyResult)
    assert result.busy == {None: [Interval(at(0), at(1.5))], chair: [Interval(at(2), at(3))]}
    assert sorted(c.name for c in result.failed) == ["buggy", "down", "hung"]


def _event(text: str) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        f"DTSTAMP:20260101T000000Z\r\n{text}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return next(iter(calendar.walk("VEVENT")))


def test_an_all_day_event_blocks_its_days_in_the_calendars_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    span = busy_of_component(_event("DTSTART;VALUE=DATE:20260302\r\nDTEND;VALUE=DATE:20260304\r\n"), paris)
    assert span == Interval(
        datetime(2026, 3, 2, tzinfo=paris).astimezone(UTC), datetime(2026, 3, 4, tzinfo=paris).astimezone(UTC)
    )
    one_day = busy_of_component(_event("DTSTART;VALUE=DATE:20260302\r\n"), ZoneInfo("UTC"))
    assert one_day == Interval(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))


def test_times_without_a_zone_are_the_calendars_and_a_duration_gives_the_end() -> None:
    new_york = ZoneInfo("America/New_York")
    span = busy_of_component(_event("DTSTART:20260302T090000\r\nDURATION:PT90M\r\n"), new_york)
    assert span == Interval(datetime(2026, 3, 2, 14, tzinfo=UTC), datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
    zoned = busy_of_component(
        _event("DTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\n"), new_york
    )
    assert zoned == Interval(datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC))


def test_free_cancelled_and_instant_events_block_nothing() -> None:
    utc = ZoneInfo("UTC")
    times = "DTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\n"
    assert busy_of_component(_event(times + "TRANSP:TRANSPARENT\r\n"), utc) is None
    assert busy_of_component(_event(times + "STATUS:CANCELLED\r\n"), utc) is None
    assert busy_of_component(_event("DTSTART:20260302T090000Z\r\n"), utc) is None
    assert busy_of_component(_event(times + "TRANSP:OPAQUE\r\n"), utc) is not None


def test_a_booking_is_stored_as_an_icalendar_event_with_the_invitations_identity() -> None:
    spec = EventSpec(
        uid="a1b2@cortex",
        sequence=3,
        summary="Haircut: Ada",
        description="Haircut booked by Ada.\nE-mail: ada@example.com",
        start=datetime(2026, 3, 2, 9, tzinfo=UTC),
        end=datetime(2026, 3, 2, 9, 45, tzinfo=UTC),
        time_zone="Europe/Paris",
        attendee_name="Ada",
        attendee_email="ada@example.com",
    )
    (event,) = icalendar.Calendar.from_ical(event_ics(spec)).walk("VEVENT")
    assert str(event["UID"]) == "a1b2@cortex" and int(event["SEQUENCE"]) == 3
    assert event["DTSTART"].dt == spec.start and event["DTEND"].dt == spec.end
    assert str(event["STATUS"]) == "CONFIRMED" and str(event["SUMMARY"]) == "Haircut: Ada"
    assert busy_of_component(event, ZoneInfo("UTC")) == Interval(spec.start, spec.end)
    assert date(2026, 3, 2) == spec.start.date()


class Rows:
    """The calendars table as `connected` reads it (store.list_calendars), with one recorded update."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.updates: list[tuple] = []

    async def fetch(self, query: str, *args: object) -> list[dict]:
        return self.rows

    async def execute(self, query: str, *args: object) -> str:
        self.updates.append(args)
        return "UPDATE 1"


async def test_a_calendar_sealed_under_another_secret_key_fails_and_says_why() -> None:
    from cortex.settings import Settings
    from cortex.workflows.calendars import connected, seal_credentials

    old, new = (
        Settings(secret_key="the-old-secret-key-" + "x" * 20),
        Settings(secret_key="the-new-secret-key-" + "y" * 20),
    )
    row = {
        "id": uuid.uuid4(),
        "workspace_id": uuid.uuid4(),
        "kind": "caldav",
        "name": "Salon",
        "resource_id": None,
        "config": {"url": "https://dav.example.com/cal/", "username": "u"},
        "credentials_sealed": seal_credentials(old, {"password": "p"}),
        "write_bookings": True,
    }
    table = Rows([row])
    (calendar,) = await connected(table, new, workspace_id=row["workspace_id"])  # type: ignore[arg-type]
    result = await busy_everywhere(table, [calendar], at(0), at(1), timeout_s=1)  # type: ignore[arg-type]
    assert result.failed == [calendar]
    ((calendar_id, _, status, last_error, sealed, _),) = table.updates
    assert (calendar_id, status, sealed) == (row["id"], "error", None)
    assert "connect it again" in last_error

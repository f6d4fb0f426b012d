"""When a bot can take an appointment: its rules (business hours per weekday in its time zone, closures,
minimum notice, horizon, slot step, the service's duration, the buffer after each appointment, its
resources) against the busy time of the built-in calendar (appointments, busy blocks) and of every
connected calendar.

`free_slots` is pure (unit-tested); `find_slots` gathers the busy time and calls it. An appointment
blocks [start, end + buffer) of its resource, as the database's exclusion constraint does, so a slot
offered here is one the database accepts unless someone books it first.

Business hours are wall-clock times in the business's zone: each day's opening spans are built as
local times with zoneinfo and converted to UTC, so the spans move with daylight saving time and a
slot step is always that many real minutes from the opening time.
"""

from __future__ import annotations

import bisect
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import asyncpg

from cortex.settings import Settings
from cortex.workflows.scheduling import store
from cortex.workflows.scheduling.models import Appointment, Interval, NotBookable, Rules, Service, Slot, SlotSearch
from cortex.workflows.scheduling.rules import load_rules

if TYPE_CHECKING:
    from cortex.workflows.calendars.base import Calendar

log = logging.getLogger("cortex.workflows")

#: Busy time by resource id; the key None blocks every resource (a calendar of the whole business).
Busy = Mapping[uuid.UUID | None, Sequence[Interval]]


# -- the rules, in local time --------------------------------------------------------------------------


def opening_spans(rules: Rules, day: date) -> list[Interval]:
    """The day's opening spans in UTC (none on a closed day), built from local wall-clock times."""
    settings = rules.settings
    if any(first <= day <= last for first, last in rules.closures):
        return []
    zone = ZoneInfo(settings.time_zone)
    spans = []
    for opens, closes in settings.hours.get(day.isoweekday(), []):
        start = datetime.combine(day, opens, tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day, closes, tzinfo=zone).astimezone(UTC)
        if end > start:
            spans.append(Interval(start, end))
    return sorted(spans, key=lambda span: span.start)


def bookable_window(rules: Rules, *, now: datetime) -> Interval:
    """From the minimum notice to the horizon: the starts a visitor may book now."""
    settings = rules.settings
    return Interval(now + timedelta(minutes=settings.min_notice_min), now + timedelta(days=settings.horizon_days))


def rule_breach(rules: Rules, service: Service, start: datetime, *, now: datetime, notice: bool = True) -> str | None:
    """Why an appointment of `service` may not start at `start` by the rules alone (None: it may):
    closed that day, outside business hours, too soon (unless `notice` is False: a member may book
    at short notice), too far ahead. Busy time is not looked at."""
    settings = rules.settings
    zone = ZoneInfo(settings.time_zone)
    local = start.astimezone(zone)
    window = bookable_window(rules, now=now)
    if start < now:
        return "that time has passed"
    if notice and start < window.start:
        return f"bookings need {_duration_words(settings.min_notice_min)} notice"
    if start >= window.end:
        return f"bookings are taken up to {settings.horizon_days} days ahead"
    if any(first <= local.date() <= last for first, last in rules.closures):
        return f"closed on {local.date().isoformat()}"
    end = start + timedelta(minutes=service.duration_min)
    if not any(span.start <= start and end <= span.end for span in opening_spans(rules, local.date())):
        return f"outside business hours ({settings.time_zone})"
    return None


def _duration_words(minutes: int) -> str:
    """How long, as a possessive before "notice": "1 day's", "2 hours'", "90 minutes'"."""
    count, unit = minutes, "minute"
    for name, size in (("day", 1440), ("hour", 60)):
        if minutes % size == 0:
            count, unit = minutes // size, name
            break
    return f"{count} {unit}'s" if count == 1 else f"{count} {unit}s'"


# -- free slots -----------------------------------------------------------------------------------------


@dataclass
class _Timeline:
    """One resource's busy time, merged and sorted, for overlap checks by bisection."""

    starts: list[datetime]
    ends: list[datetime]

    @classmethod
    def of(cls, intervals: Sequence[Interval]) -> _Timeline:
        merged: list[list[datetime]] = []
        for interval in sorted(intervals, key=lambda i: i.start):
            if interval.end <= interval.start:
                continue
            if merged and interval.start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], interval.end)
            else:
                merged.append([interval.start, interval.end])
        return cls([m[0] for m in merged], [m[1] for m in merged])

    def is_free(self, start: datetime, end: datetime) -> bool:
        """No busy span overlaps [start, end)."""
        index = bisect.bisect_right(self.ends, start)  # the first span ending after `start`
        return index >= len(self.starts) or self.starts[index] >= end


def free_slots(
    rules: Rules,
    service: Service,
    busy: Busy,
    *,
    after: datetime,
    before: datetime,
    now: datetime,
    limit: int,
) -> list[Slot]:
    """Up to `limit` bookable starts in [after, before), earliest first, each with the resources free for
    the whole appointment and the buffer after it. Starts are the opening time plus whole slot steps,
    within the bookable window (minimum notice, horizon), on open days, and the appointment ends by
    closing time."""
    settings = rules.settings
    if limit <= 0 or not rules.resource_ids:
        return []
    window = bookable_window(rules, now=now)
    earliest, latest = max(after, window.start), min(before, window.end)
    if earliest >= latest:
        return []
    duration = timedelta(minutes=service.duration_min)
    blocked_for = duration + timedelta(minutes=settings.buffer_min)
    step = timedelta(minutes=settings.slot_step_min)
    everyone = list(busy.get(None, ()))
    timelines = {resource: _Timeline.of([*busy.get(resource, ()), *everyone]) for resource in rules.resource_ids}
    zone = ZoneInfo(settings.time_zone)
    # A day before and after in local dates: a span of the previous local day may reach past midnight UTC.
    day, last_day = earliest.astimezone(zone).date() - timedelta(days=1), latest.astimezone(zone).date()
    slots: list[Slot] = []
    while day <= last_day:
        for span in opening_spans(rules, day):
            start = span.start
            if start < earliest:  # the first whole step at or after `earliest`
                start += step * -((span.start - earliest) // step)
            while start + duration <= span.end and start < latest:
                free = tuple(r for r in rules.resource_ids if timelines[r].is_free(start, start + blocked_for))
                if free:
                    slots.append(Slot(start=start, end=start + duration, resource_ids=free))
                    if len(slots) >= limit:
                        return slots
                start += step
        day += timedelta(days=1)
    return sorted(slots, key=lambda slot: slot.start)[:limit]


def moved_service(appointment: Appointment) -> Service:
    """What an appointment being moved takes: its service as booked (the service may have changed or gone)."""
    minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
    return Service(id=appointment.service_id or uuid.UUID(int=0), name=appointment.service_name, duration_min=minutes)


def nearest(slots: Sequence[Slot], wanted: datetime, *, count: int) -> list[Slot]:
    """The `count` slots closest to `wanted`, in time order: what to offer when `wanted` is taken."""
    closest = sorted(slots, key=lambda slot: (abs(slot.start - wanted), slot.start))[:count]
    return sorted(closest, key=lambda slot: slot.start)


# -- busy time from the built-in and connected calendars ------------------------------------------------


async def builtin_busy(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    start: datetime,
    end: datetime,
    moving: Appointment | None = None,
) -> dict[uuid.UUID | None, list[Interval]]:
    """The bot's booked appointments (with their buffers; not the one `moving`) and busy blocks
    overlapping [start, end)."""
    busy: dict[uuid.UUID | None, list[Interval]] = {}
    for resource_id, lo, hi in await store.busy_ranges(
        conn,
        workspace_id=workspace_id,
        bot_id=bot_id,
        start=start,
        end=end,
        except_appointment_id=moving.id if moving else None,
    ):
        busy.setdefault(resource_id, []).append(Interval(lo, hi))
    return busy


async def connected_busy(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    start: datetime,
    end: datetime,
    calendars: Sequence[Calendar] | None = None,
) -> tuple[dict[uuid.UUID | None, list[Interval]], list[str]]:
    """Busy time of the workspace's connected calendars over [start, end), by resource, and the names of
    those that could not be asked (the answer comes from the others; never raises for a calendar)."""
    from cortex.workflows import calendars as connected_calendars

    if calendars is None:
        async with pool.acquire() as conn:
            calendars = await connected_calendars.connected(conn, settings, workspace_id=workspace_id)
    if not calendars:
        return {}, []
    result = await connected_calendars.busy_everywhere(
        pool, calendars, start, end, timeout_s=settings.calendar_timeout_s
    )
    busy = {resource: list(intervals) for resource, intervals in result.busy.items()}
    return busy, [calendar.name for calendar in result.failed]


def without(
    busy: Mapping[uuid.UUID | None, Sequence[Interval]], span: Interval
) -> dict[uuid.UUID | None, list[Interval]]:
    """Busy time less `span`: a connected calendar holds the event of the appointment being moved, which
    must not keep its own new time from being free."""
    kept: dict[uuid.UUID | None, list[Interval]] = {}
    for resource, intervals in busy.items():
        parts = kept.setdefault(resource, [])
        for interval in intervals:
            if interval.end <= span.start or interval.start >= span.end:
                parts.append(interval)
                continue
            if interval.start < span.start:
                parts.append(Interval(interval.start, span.start))
            if interval.end > span.end:
                parts.append(Interval(span.end, interval.end))
    return kept


def combined(*sources: Mapping[uuid.UUID | None, Sequence[Interval]]) -> dict[uuid.UUID | None, list[Interval]]:
    busy: dict[uuid.UUID | None, list[Interval]] = {}
    for source in sources:
        for resource, intervals in source.items():
            busy.setdefault(resource, []).extend(intervals)
    return busy


async def find_slots(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    service_id: uuid.UUID,
    after: datetime,
    before: datetime,
    limit: int = 5,
    calendars: Sequence[Calendar] | None = None,
    now: datetime | None = None,
    moving: Appointment | None = None,
) -> SlotSearch:
    """Free slots of the bot's service in [after, before), from the built-in calendar and every connected
    one. A calendar that cannot be asked is named in `failed_calendars`; the slots come from the rest.
    `moving`: the appointment to be rescheduled, whose own time does not count as busy."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        rules = await load_rules(conn, workspace_id=workspace_id, bot_id=bot_id)
        if rules is None:
            raise NotBookable("this bot does not take bookings")
        service = moved_service(moving) if moving is not None else rules.service(service_id)
        if service is None:
            raise NotBookable("no such service")
        window = bookable_window(rules, now=now)
        start, end = max(after, window.start), min(before, window.end)
        if start >= end:
            return SlotSearch(slots=[])
        # Busy time reaching into the window: an appointment starting at `end` - 1 µs blocks its duration
        # and buffer past it.
        reach = timedelta(minutes=service.duration_min + rules.settings.buffer_min)
        builtin = await builtin_busy(
            conn, workspace_id=workspace_id, bot_id=bot_id, start=start, end=end + reach, moving=moving
        )
    external, failed = await connected_busy(
        pool, settings, workspace_id=workspace_id, start=start, end=end + reach, calendars=calendars
    )
    if moving is not None:
        external = without(external, Interval(moving.starts_at, moving.ends_at))
    if failed:
        log.warning("availability without calendars %s (workspace %s)", failed, workspace_id)
    slots = free_slots(rules, service, combined(builtin, external), after=start, before=end, now=now, limit=limit)
    return SlotSearch(slots=slots, failed_calendars=failed)

"""free_slots, the pure heart of availability: business hours in the business's own time zone (across
a daylight-saving change), closures, minimum notice, horizon, slot step, buffers, capacity and busy
time. Times below are written in the business's zone and compared in UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cortex.workflows.scheduling.availability import free_slots, nearest, rule_breach
from cortex.workflows.scheduling.models import BookingSettings, Interval, Rules, Service, Slot

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ROOM_1, ROOM_2 = uuid.UUID(int=1), uuid.UUID(int=2)
CUT = Service(id=uuid.uuid4(), name="Haircut", duration_min=30)
COLOUR = Service(id=uuid.uuid4(), name="Colour", duration_min=90)
WEEKDAYS_9_TO_17 = {day: [(time(9), time(17))] for day in range(1, 6)}


def rules(
    *,
    zone: str = "Europe/Berlin",
    hours: dict[int, list[tuple[time, time]]] | None = None,
    buffer_min: int = 0,
    min_notice_min: int = 0,
    horizon_days: int = 60,
    slot_step_min: int = 30,
    resources: tuple[uuid.UUID, ...] = (ROOM_1,),
    closures: list[tuple[date, date]] | None = None,
) -> Rules:
    settings = BookingSettings(
        workspace_id=uuid.uuid4(),
        bot_id=uuid.uuid4(),
        time_zone=zone,
        hours=WEEKDAYS_9_TO_17 if hours is None else hours,
        buffer_min=buffer_min,
        min_notice_min=min_notice_min,
        horizon_days=horizon_days,
        slot_step_min=slot_step_min,
        reminder_hours=[24],
        follow_up_hours=None,
        notify={},
    )
    return Rules(settings=settings, services=[CUT, COLOUR], resource_ids=list(resources), closures=closures or [])


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def local_starts(slots: list[Slot], zone: ZoneInfo = BERLIN) -> list[str]:
    return [slot.start.astimezone(zone).strftime("%a %H:%M") for slot in slots]


MONDAY = date(2026, 3, 2)
NOW = at(MONDAY, 0)  # Monday 00:00 in Berlin


def day_slots(r: Rules, day: date, service: Service = CUT, busy: dict | None = None, now: datetime = NOW) -> list[Slot]:
    after, before = at(day, 0), at(day + timedelta(days=1), 0)
    return free_slots(r, service, busy or {}, after=after, before=before, now=now, limit=500)


def test_a_day_is_cut_into_steps_that_end_by_closing_time() -> None:
    slots = day_slots(rules(), MONDAY)
    assert local_starts(slots)[:3] == ["Mon 09:00", "Mon 09:30", "Mon 10:00"]
    assert local_starts(slots)[-1] == "Mon 16:30"
    assert len(slots) == 16
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)
    colour = day_slots(rules(), MONDAY, COLOUR)
    assert local_starts(colour)[-1] == "Mon 15:30", "a 90-minute colour must end by 17:00"


def test_weekends_without_hours_have_no_slots() -> None:
    assert day_slots(rules(), MONDAY + timedelta(days=5)) == []  # Saturday
    assert day_slots(rules(), MONDAY + timedelta(days=6)) == []  # Sunday


def test_business_hours_follow_the_local_clock_across_daylight_saving_time() -> None:
    r = rules()
    # Berlin moves its clocks forward on Sunday 29 March 2026: 09:00 local is 08:00 UTC on Friday the
    # 27th and 07:00 UTC on Monday the 30th.
    friday, monday = date(2026, 3, 27), date(2026, 3, 30)
    now = at(friday, 0)
    before = day_slots(r, friday, now=now)
    after = day_slots(r, monday, now=now)
    assert before[0].start == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    assert after[0].start == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert local_starts(after)[0] == "Mon 09:00" and local_starts(after)[-1] == "Mon 16:30"
    assert len(before) == len(after) == 16


def test_an_opening_span_on_the_daylight_saving_night_is_an_hour_shorter() -> None:
    # A night shift 00:00-06:00 in New York on 8 March 2026 (clocks jump from 02:00 to 03:00): 5 real hours.
    sunday = date(2026, 3, 8)
    r = rules(zone="America/New_York", hours={7: [(time(0), time(6))]}, slot_step_min=60)
    slots = free_slots(
        r,
        Service(uuid.uuid4(), "Shift", 60),
        {},
        after=at(sunday, 0, zone=NEW_YORK),
        before=at(sunday, 23, zone=NEW_YORK),
        now=at(sunday, 0, zone=NEW_YORK) - timedelta(days=1),
        limit=50,
    )
    assert len(slots) == 5
    assert local_starts(slots, NEW_YORK) == ["Sun 00:00", "Sun 01:00", "Sun 03:00", "Sun 04:00", "Sun 05:00"]


def test_a_closure_closes_every_day_it_covers_inclusive() -> None:
    tuesday, thursday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=3)
    r = rules(closures=[(tuesday, MONDAY + timedelta(days=2))])
    assert day_slots(r, tuesday) == []
    assert day_slots(r, MONDAY + timedelta(days=2)) == []
    assert len(day_slots(r, MONDAY)) == 16 and len(day_slots(r, thursday)) == 16
    assert rule_breach(r, CUT, at(tuesday, 10), now=NOW) == "closed on 2026-03-03"


def test_minimum_notice_hides_the_slots_that_start_too_soon() -> None:
    r = rules(min_notice_min=120)
    now = at(MONDAY, 10, 10)
    slots = day_slots(r, MONDAY, now=now)
    assert local_starts(slots)[0] == "Mon 12:30", "10:10 plus two hours, rounded up to the next step"
    assert rule_breach(r, CUT, at(MONDAY, 12), now=now) == "bookings need 2 hours' notice"
    assert rule_breach(r, CUT, at(MONDAY, 12), now=now, notice=False) is None, "a member may book at short notice"
    one_day = rules(min_notice_min=1440)
    assert rule_breach(one_day, CUT, at(MONDAY, 12), now=now) == "bookings need 1 day's notice"
    assert rule_breach(rules(min_notice_min=90), CUT, at(MONDAY, 11), now=now) == "bookings need 90 minutes' notice"


def test_nothing_is_offered_beyond_the_horizon() -> None:
    r = rules(horizon_days=3)
    slots = free_slots(r, CUT, {}, after=NOW, before=NOW + timedelta(days=30), now=NOW, limit=1000)
    assert max(slot.start for slot in slots) < NOW + timedelta(days=3)
    assert {slot.start.astimezone(BERLIN).date() for slot in slots} == {MONDAY + timedelta(days=d) for d in range(3)}
    assert rule_breach(r, CUT, at(MONDAY + timedelta(days=3), 10), now=NOW) == "bookings are taken up to 3 days ahead"


def test_the_buffer_after_an_appointment_keeps_the_next_start_free() -> None:
    r = rules(buffer_min=15, slot_step_min=15)
    # A booked 10:00-10:30 appointment blocks 10:00-10:45 (its buffer included).
    busy = {ROOM_1: [Interval(at(MONDAY, 10), at(MONDAY, 10, 45))]}
    starts = local_starts(day_slots(r, MONDAY, busy=busy))
    assert "Mon 10:45" in starts and "Mon 10:30" not in starts and "Mon 10:15" not in starts
    # The new appointment's own buffer must not run into the next one: 09:30 + 30 min + 15 min > 10:00.
    assert "Mon 09:15" in starts and "Mon 09:30" not in starts


def test_with_two_resources_a_slot_stays_open_until_both_are_taken() -> None:
    r = rules(resources=(ROOM_1, ROOM_2))
    one_taken = {ROOM_1: [Interval(at(MONDAY, 10), at(MONDAY, 10, 30))]}
    slot = next(s for s in day_slots(r, MONDAY, busy=one_taken) if s.start == at(MONDAY, 10))
    assert slot.resource_ids == (ROOM_2,)
    both_taken = {**one_taken, ROOM_2: [Interval(at(MONDAY, 10), at(MONDAY, 10, 30))]}
    assert at(MONDAY, 10) not in [s.start for s in day_slots(r, MONDAY, busy=both_taken)]
    free = next(s for s in day_slots(r, MONDAY) if s.start == at(MONDAY, 10))
    assert free.resource_ids == (ROOM_1, ROOM_2)


def test_busy_time_without_a_resource_blocks_every_resource() -> None:
    r = rules(resources=(ROOM_1, ROOM_2))
    lunch = {None: [Interval(at(MONDAY, 12), at(MONDAY, 13))]}
    starts = local_starts(day_slots(r, MONDAY, busy=lunch))
    assert "Mon 12:00" not in starts and "Mon 12:30" not in starts
    assert "Mon 11:30" in starts and "Mon 13:00" in starts
    # A calendar busy 11:45-11:50 still takes the 11:30 slot: any overlap counts.
    short = {None: [Interval(at(MONDAY, 11, 45), at(MONDAY, 11, 50))]}
    assert "Mon 11:30" not in local_starts(day_slots(r, MONDAY, busy=short))


def test_several_spans_a_day_and_the_limit() -> None:
    r = rules(hours={1: [(time(14), time(16)), (time(9), time(11))]})
    assert local_starts(day_slots(r, MONDAY)) == [
        "Mon 09:00",
        "Mon 09:30",
        "Mon 10:00",
        "Mon 10:30",
        "Mon 14:00",
        "Mon 14:30",
        "Mon 15:00",
        "Mon 15:30",
    ]
    first_three = free_slots(r, CUT, {}, after=NOW, before=NOW + timedelta(days=7), now=NOW, limit=3)
    assert local_starts(first_three) == ["Mon 09:00", "Mon 09:30", "Mon 10:00"]


def test_a_start_outside_the_hours_or_in_the_past_is_refused_with_the_reason() -> None:
    r = rules()
    assert rule_breach(r, CUT, at(MONDAY, 8, 30), now=NOW) == "outside business hours (Europe/Berlin)"
    assert rule_breach(r, CUT, at(MONDAY, 16, 45), now=NOW) == "outside business hours (Europe/Berlin)"
    assert rule_breach(r, CUT, at(MONDAY, 16, 30), now=NOW) is None
    assert rule_breach(r, CUT, NOW - timedelta(hours=1), now=NOW) == "that time has passed"


def test_alternatives_are_the_nearest_slots_in_time_order() -> None:
    slots = day_slots(rules(), MONDAY)
    offered = nearest(slots, at(MONDAY, 12), count=3)
    assert local_starts(offered) == ["Mon 11:30", "Mon 12:00", "Mon 12:30"]

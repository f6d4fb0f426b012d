"""What the /schedule API accepts as a bot's booking settings and a booking: hours as "HH:MM" spans per
ISO weekday that end after they start and do not overlap, IANA time zones, times with their offset."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from cortex.workflows.scheduling.schemas import BookingCreate, BookingSettingsIn, BusyBlockCreate, ClosureCreate


def settings(**fields: object) -> BookingSettingsIn:
    return BookingSettingsIn.model_validate({"time_zone": "Europe/Berlin", "hours": {}, **fields})


def test_hours_are_sorted_per_day_and_days_without_spans_are_closed() -> None:
    parsed = settings(hours={"3": [["13:00", "17:00"], ["09:00", "12:00"]], "1": [["08:30", "12:00"]], "6": []})
    assert parsed.hours == {"1": [("08:30", "12:00")], "3": [("09:00", "12:00"), ("13:00", "17:00")]}


def test_touching_spans_are_fine() -> None:
    assert settings(hours={"1": [["09:00", "12:00"], ["12:00", "17:00"]]}).hours["1"][1] == ("12:00", "17:00")


@pytest.mark.parametrize(
    ("hours", "says"),
    [
        ({"1": [["17:00", "09:00"]]}, "must end after it starts"),
        ({"1": [["09:00", "09:00"]]}, "must end after it starts"),
        ({"1": [["09:00", "13:00"], ["12:00", "17:00"]]}, "overlap"),
        ({"1": [["9:00", "17:00"]]}, "HH:MM"),
        ({"1": [["09:00", "24:00"]]}, "HH:MM"),
        ({"1": [["09:00", "17:60"]]}, "HH:MM"),
        ({"0": [["09:00", "17:00"]]}, "ISO weekdays"),
        ({"mon": [["09:00", "17:00"]]}, "ISO weekdays"),
        ({"1": [["09:00"]]}, "Field required"),
        ({"1": [["09:00", "10:00"]] * 7}, "at most 6"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(hours: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        settings(hours=hours)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "CET+1", "", "europe/berlin", "../etc/passwd"])
def test_a_time_zone_must_be_an_iana_name(zone: str) -> None:
    with pytest.raises(ValidationError):
        settings(time_zone=zone)


def test_iana_names_are_taken() -> None:
    for zone in ("UTC", "America/Argentina/Buenos_Aires", "Asia/Kathmandu", "Pacific/Chatham"):
        assert settings(time_zone=zone).time_zone == zone


def test_numbers_stay_in_their_ranges() -> None:
    for field, value in (("buffer_min", 241), ("slot_step_min", 4), ("horizon_days", 0), ("min_notice_min", -1)):
        with pytest.raises(ValidationError):
            settings(**{field: value})
    with pytest.raises(ValidationError):
        settings(reminder_hours=[24, 2, 1, 48])
    with pytest.raises(ValidationError):
        settings(notify={"emails": ["not an address"]})


def test_a_booking_needs_an_offset_an_address_and_a_real_time_zone() -> None:
    body = {
        "bot_id": str(uuid.uuid4()),
        "service_id": str(uuid.uuid4()),
        "start": "2030-01-07T10:00:00+01:00",
        "name": "Ada",
        "email": "ada@example.com",
    }
    assert BookingCreate.model_validate(body).time_zone is None
    for field, value in (("start", "2030-01-07T10:00:00"), ("email", "ada"), ("time_zone", "Nowhere/Land")):
        with pytest.raises(ValidationError):
            BookingCreate.model_validate({**body, field: value})


def test_closures_and_busy_blocks_end_after_they_start() -> None:
    bot = str(uuid.uuid4())
    with pytest.raises(ValidationError, match="on or after"):
        ClosureCreate.model_validate({"bot_id": bot, "starts_on": "2030-01-02", "ends_on": "2030-01-01"})
    assert ClosureCreate.model_validate({"bot_id": bot, "starts_on": "2030-01-01", "ends_on": "2030-01-01"})
    with pytest.raises(ValidationError, match="after starts_at"):
        BusyBlockCreate.model_validate(
            {"bot_id": bot, "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T10:00:00Z"}
        )

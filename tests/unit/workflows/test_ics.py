"""The invitation a visitor's calendar reads: parsed back with icalendar and held to what RFC 5545
requires of a VCALENDAR/VEVENT and RFC 5546 (iTIP) of a REQUEST and a CANCEL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from cortex.workflows.notify.ics import PRODID, Organizer, invitation
from cortex.workflows.scheduling.models import Appointment

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
ORGANIZER = Organizer(name="Salon Aurora, Inc.", email="bookings@salon.example")
# RFC 5546 3.2.2 (REQUEST) and 3.2.5 (CANCEL): what the VEVENT must carry.
REQUIRED_IN_REQUEST = {"ATTENDEE", "DTSTAMP", "DTSTART", "ORGANIZER", "SEQUENCE", "SUMMARY", "UID"}
REQUIRED_IN_CANCEL = {"ATTENDEE", "DTSTAMP", "ORGANIZER", "SEQUENCE", "UID"}


def _appointment(**changes: object) -> Appointment:
    start = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # the day after Berlin moved to summer time
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "workspace_id": uuid.uuid4(),
        "bot_id": uuid.uuid4(),
        "resource_id": uuid.uuid4(),
        "service_id": uuid.uuid4(),
        "service_name": "Haircut",
        "conversation_id": uuid.uuid4(),
        "visitor_id": "v-1",
        "name": "Jürgen Müller; Sr.",
        "email": "jurgen@example.com",
        "notes": "",
        "starts_at": start,
        "ends_at": start + timedelta(minutes=45),
        "time_zone": "Europe/Berlin",
        "language": "de",
        "status": "booked",
        "source": "chat",
        "uid": f"{uuid.uuid4()}@cortex",
        "sequence": 0,
        "external": {},
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return Appointment(**values)  # type: ignore[arg-type]


def _event(text: str) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(text)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_a_booking_is_a_request_at_the_visitors_local_time_with_its_zone() -> None:
    appointment = _appointment()
    text = invitation(appointment, method="REQUEST", organizer=ORGANIZER, summary="Haircut", now=NOW)
    assert "\r\n" in text, "iCalendar lines end with CRLF"
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n")), "lines are folded at 75 octets"
    calendar, event = _event(text)
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"] == PRODID
    assert REQUIRED_IN_REQUEST <= set(event.keys())  # type: ignore[attr-defined]
    assert event["UID"] == appointment.uid  # type: ignore[index]
    assert event["SEQUENCE"] == 0  # type: ignore[index]
    assert event["STATUS"] == "CONFIRMED"  # type: ignore[index]
    start = event.decoded("DTSTART")  # type: ignore[attr-defined]
    # 08:00 UTC on 30 March is 10:00 in Berlin (CEST), written with Berlin's TZID.
    assert (start.hour, start.minute) == (10, 0)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"  # type: ignore[index]
    assert start == appointment.starts_at and event.decoded("DTEND") == appointment.ends_at  # type: ignore[attr-defined]
    [zone] = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    assert {component.name for component in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}
    stamp = event.decoded("DTSTAMP")  # type: ignore[attr-defined]
    assert stamp == NOW and stamp.utcoffset() == timedelta(0), "DTSTAMP is in UTC"


def test_the_attendee_is_the_visitor_asked_to_rsvp_and_the_organizer_the_business() -> None:
    text = invitation(_appointment(), method="REQUEST", organizer=ORGANIZER, summary="Haircut", now=NOW)
    _, event = _event(text)
    attendee = event["ATTENDEE"]  # type: ignore[index]
    assert str(attendee) == "mailto:jurgen@example.com"
    assert attendee.params["CN"] == "Jürgen Müller; Sr."  # quoted: the ';' is not a parameter break
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["ROLE"] == "REQ-PARTICIPANT"
    organizer = event["ORGANIZER"]  # type: ignore[index]
    assert str(organizer) == "mailto:bookings@salon.example"
    assert organizer.params["CN"] == "Salon Aurora, Inc."


def test_a_reschedule_keeps_the_uid_with_a_higher_sequence() -> None:
    first = _appointment()
    moved = _appointment(
        uid=first.uid,
        sequence=1,
        starts_at=first.starts_at + timedelta(days=1),
        ends_at=first.ends_at + timedelta(days=1),
    )
    _, before = _event(invitation(first, method="REQUEST", organizer=ORGANIZER, summary="Haircut", now=NOW))
    _, after = _event(invitation(moved, method="REQUEST", organizer=ORGANIZER, summary="Haircut", now=NOW))
    assert before["UID"] == after["UID"]  # type: ignore[index]
    assert after["SEQUENCE"] > before["SEQUENCE"]  # type: ignore[index]
    assert after.decoded("DTSTART") - before.decoded("DTSTART") == timedelta(days=1)  # type: ignore[attr-defined]


def test_a_cancel_is_method_cancel_with_status_cancelled() -> None:
    appointment = _appointment(status="cancelled", sequence=2)
    calendar, event = _event(invitation(appointment, method="CANCEL", organizer=ORGANIZER, summary="Haircut", now=NOW))
    assert calendar["METHOD"] == "CANCEL"
    assert REQUIRED_IN_CANCEL <= set(event.keys())  # type: ignore[attr-defined]
    assert event["STATUS"] == "CANCELLED" and event["SEQUENCE"] == 2  # type: ignore[index]
    assert event["UID"] == appointment.uid  # type: ignore[index]


def test_text_with_commas_semicolons_and_newlines_is_escaped_and_read_back() -> None:
    description = "Bring your card; parking at the back, level 2\nCall us if late."
    text = invitation(
        _appointment(), method="REQUEST", organizer=ORGANIZER, summary="Cut, wash", description=description, now=NOW
    )
    _, event = _event(text)
    assert event["SUMMARY"] == "Cut, wash"  # type: ignore[index]
    assert event["DESCRIPTION"] == description  # type: ignore[index]


def test_a_zone_across_the_date_line_is_written_in_its_own_local_time() -> None:
    appointment = _appointment(time_zone="Pacific/Auckland")
    _, event = _event(invitation(appointment, method="REQUEST", organizer=ORGANIZER, summary="Haircut", now=NOW))
    start = event.decoded("DTSTART")  # type: ignore[attr-defined]
    assert start == appointment.starts_at
    assert start.astimezone(ZoneInfo("Pacific/Auckland")).hour == 21  # 08:00 UTC = 21:00 NZDT


def test_an_appointment_without_an_address_gets_no_invitation() -> None:
    with pytest.raises(ValueError, match="address"):
        invitation(_appointment(email=None), method="REQUEST", organizer=ORGANIZER, summary="x", now=NOW)

"""An appointment as an iCalendar invitation (RFC 5545), sent the way RFC 5546 (iTIP) says.

`METHOD:REQUEST` invites (a booking) and updates (a reschedule: the same UID, a higher SEQUENCE, so
the visitor's calendar moves the event it has instead of adding a second one); `METHOD:CANCEL`
removes it. The times are written in the visitor's time zone (TZID, with its VTIMEZONE, so a
client that knows no IANA names still places the event right); DTSTAMP is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from cortex.workflows.scheduling.models import Appointment

PRODID = "-//Cortex//Scheduling//EN"

Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Organizer:
    """The business that sends the invitation: its name and the address replies go to."""

    name: str
    email: str


def invitation(
    appointment: Appointment,
    *,
    method: Method,
    organizer: Organizer,
    summary: str,
    description: str = "",
    now: datetime | None = None,
) -> str:
    """The VCALENDAR text of `appointment` for its visitor (who must have an address)."""
    if not appointment.email:
        raise ValueError("an invitation needs the visitor's address")
    zone = ZoneInfo(appointment.time_zone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    event = Event()
    event.add("uid", appointment.uid)
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", appointment.starts_at.astimezone(zone))
    event.add("dtend", appointment.ends_at.astimezone(zone))
    event.add("created", appointment.created_at.astimezone(UTC))
    event.add("last-modified", appointment.updated_at.astimezone(UTC))
    event.add("summary", summary)
    if description:
        event.add("description", description)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer_address = vCalAddress(f"mailto:{organizer.email}")
    organizer_address.params["cn"] = vText(organizer.name)
    event.add("organizer", organizer_address)

    attendee = vCalAddress(f"mailto:{appointment.email}")
    if appointment.name:
        attendee.params["cn"] = vText(appointment.name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["cutype"] = vText("INDIVIDUAL")
    # The visitor chose the slot: the booking is accepted; RSVP lets the client offer to answer.
    attendee.params["partstat"] = vText("DECLINED" if method == "CANCEL" else "ACCEPTED")
    attendee.params["rsvp"] = vText("FALSE" if method == "CANCEL" else "TRUE")
    event.add("attendee", attendee, encode=False)

    calendar.add_component(event)
    # The zone's rules for a year either side: enough for the event, short enough to read.
    calendar.add_missing_timezones(
        first_date=appointment.starts_at.date() - timedelta(days=366),
        last_date=appointment.ends_at.date() + timedelta(days=366),
    )
    text: str = calendar.to_ical().decode()
    return text

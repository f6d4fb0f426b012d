"""One interface for every connected calendar (CalDAV, Google Calendar, Outlook): ask it for busy time,
write a booking into it, move it, remove it.

A backend raises `CalendarUnavailable` for anything that keeps it from answering (down, refused, timed
out, credentials rejected); the callers (availability, booking) then answer from the other calendars
and the built-in one, and the owner is told.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from cortex.settings import Settings
from cortex.workflows.scheduling.models import Interval

__all__ = ["Calendar", "CalendarUnavailable", "ConnectedCalendar", "EventSpec", "Interval", "merge_intervals"]


@dataclass(frozen=True)
class EventSpec:
    """A booking as written into a connected calendar. `uid`/`sequence` are the appointment's
    iCalendar identity (the same as in the invitation mails); times are aware, UTC."""

    uid: str
    sequence: int
    summary: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    attendee_name: str | None
    attendee_email: str | None
    status: Literal["CONFIRMED", "CANCELLED"] = "CONFIRMED"


class CalendarUnavailable(Exception):
    """A connected calendar could not be asked or written: down, refused, timed out, or auth failed.
    The message is safe to show the owner (no secret in it)."""


class Calendar(Protocol):
    """One connected calendar, its credentials opened (see `cortex.workflows.calendars.connected`)."""

    id: uuid.UUID
    name: str
    kind: str
    resource_id: uuid.UUID | None
    write_bookings: bool

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        """The busy spans overlapping [start, end), merged, in UTC."""
        ...

    async def create(self, event: EventSpec) -> str:
        """Write the event; return its id in this calendar."""
        ...

    async def update(self, external_id: str, event: EventSpec) -> None:
        """Change the event written earlier."""
        ...

    async def delete(self, external_id: str) -> None:
        """Remove the event (already gone is fine)."""
        ...


def merge_intervals(
    intervals: list[Interval], *, start: datetime | None = None, end: datetime | None = None
) -> list[Interval]:
    """Sorted, overlapping or touching spans joined, clipped to [start, end) when given; empty spans dropped."""
    clipped = []
    for interval in intervals:
        lo = max(interval.start, start) if start is not None else interval.start
        hi = min(interval.end, end) if end is not None else interval.end
        if hi > lo:
            clipped.append((lo, hi))
    clipped.sort()
    merged: list[Interval] = []
    for lo, hi in clipped:
        if merged and lo <= merged[-1].end:
            if hi > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, hi)
        else:
            merged.append(Interval(lo, hi))
    return merged


class ConnectedCalendar(abc.ABC):
    """What every backend shares: the row's identity and settings, and its opened credentials.
    A backend that refreshes a token changes `credentials` and sets `credentials_changed`, and the
    caller seals them back into the row (`busy_everywhere`, `write_event`)."""

    kind: str = ""

    def __init__(
        self,
        *,
        id: uuid.UUID,
        workspace_id: uuid.UUID,
        settings: Settings,
        name: str,
        resource_id: uuid.UUID | None,
        write_bookings: bool,
        config: dict[str, Any],
        credentials: dict[str, Any],
        timeout_s: float,
    ) -> None:
        self.id = id
        self.workspace_id = workspace_id
        self.settings = settings
        self.name = name
        self.resource_id = resource_id
        self.write_bookings = write_bookings
        self.config = config
        self.credentials = credentials
        self.credentials_changed = False
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.id}>"

    @abc.abstractmethod
    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        """The busy spans overlapping [start, end), merged, in UTC."""

    @abc.abstractmethod
    async def create(self, event: EventSpec) -> str:
        """Write the event; return its id in this calendar."""

    @abc.abstractmethod
    async def update(self, external_id: str, event: EventSpec) -> None:
        """Change the event written earlier."""

    @abc.abstractmethod
    async def delete(self, external_id: str) -> None:
        """Remove the event (already gone is fine)."""

    @abc.abstractmethod
    async def describe(self) -> dict[str, Any]:
        """Ask the calendar once (the connection test): what it calls itself ({"display_name": …})."""

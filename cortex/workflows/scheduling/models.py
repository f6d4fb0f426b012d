"""The scheduling domain's values, shared by availability, booking, calendars, notifications and
the scheduling graph. Times are aware datetimes in UTC; a time zone is an IANA name."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal


@dataclass(frozen=True)
class Interval:
    """A span of busy (or free) time, [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Service:
    id: uuid.UUID
    name: str
    duration_min: int
    description: str = ""


@dataclass(frozen=True)
class BookingSettings:
    """A bot's booking_settings row: its rules and who hears about bookings."""

    workspace_id: uuid.UUID
    bot_id: uuid.UUID
    time_zone: str
    #: ISO weekday (1 Monday … 7 Sunday) → opening spans in `time_zone`.
    hours: dict[int, list[tuple[time, time]]]
    buffer_min: int
    min_notice_min: int
    horizon_days: int
    slot_step_min: int
    reminder_hours: list[int]
    follow_up_hours: int | None
    #: {"emails": [...], "webhook_url": "https://…"}; the webhook's secret is sealed in the row.
    notify: dict[str, Any]


@dataclass(frozen=True)
class Rules:
    """Everything availability needs for one bot: its settings, services, resources and closures."""

    settings: BookingSettings
    services: list[Service]
    resource_ids: list[uuid.UUID]
    #: Closed days, inclusive, in the business's time zone.
    closures: list[tuple[date, date]] = field(default_factory=list)

    def service(self, service_id: uuid.UUID) -> Service | None:
        """The active service with this id (None: not one of the bot's active services)."""
        return next((service for service in self.services if service.id == service_id), None)


@dataclass(frozen=True)
class Slot:
    """A bookable start: the resources free for the whole service (and its buffer)."""

    start: datetime
    end: datetime
    resource_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class SlotSearch:
    slots: list[Slot]
    #: Names of connected calendars that could not be asked: the slots come from the others.
    failed_calendars: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Appointment:
    id: uuid.UUID
    workspace_id: uuid.UUID
    bot_id: uuid.UUID
    resource_id: uuid.UUID
    service_id: uuid.UUID | None
    service_name: str
    conversation_id: uuid.UUID | None
    visitor_id: str | None
    name: str | None
    email: str | None
    notes: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    language: str
    status: Literal["booked", "cancelled"]
    source: Literal["chat", "api", "dashboard"]
    uid: str
    sequence: int
    external: dict[str, str]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None


class BookingError(Exception):
    """A booking, move or cancellation that cannot be made, for a reason the visitor or member should
    hear (the message is safe to show): the bot does not book, no such service, outside the rules."""


class NotBookable(BookingError):
    """The bot does not take bookings (no rules, or switched off), or the service is not one of its
    active services."""


class AppointmentNotFound(BookingError):
    """No such appointment in the workspace."""


class AlreadyCancelled(BookingError):
    """The appointment was cancelled before."""


class SlotTaken(Exception):
    """The wanted time is taken (the database refused it, or a connected calendar is busy then):
    `alternatives` are free slots near it, to offer instead."""

    def __init__(self, alternatives: list[Slot], message: str = "that time was just taken") -> None:
        super().__init__(message)
        self.alternatives = alternatives

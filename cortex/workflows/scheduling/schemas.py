"""Request and response models of the /schedule API: a bot's booking settings, its services,
resources, closures and busy blocks, availability, and bookings.

Input is strict: unknown fields are refused, business hours are "HH:MM" spans per ISO weekday
("1" Monday … "7" Sunday) that end after they start and do not overlap, a time zone is an IANA name,
and every time carries its offset.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cortex.email_address import EmailAddress
from cortex.time_zones import check_time_zone
from cortex.workflows.scheduling.models import Appointment, Slot

#: Opening spans a day may have (morning and afternoon, with a few breaks).
MAX_SPANS_PER_DAY = 6
#: Reminders per appointment: the day before and an hour before cover the usual practice.
MAX_REMINDERS = 3
#: A reminder or follow-up at most a month away.
MAX_NOTICE_HOURS = 720
#: Owner addresses told of each booking.
MAX_NOTIFY_EMAILS = 10

AppointmentStatus = Literal["booked", "cancelled"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- booking settings ---------------------------------------------------------------------------------


class Notify(Strict):
    """Whom the owner's notice of each booking goes to."""

    emails: list[EmailAddress] = Field(default_factory=list, max_length=MAX_NOTIFY_EMAILS)
    webhook_url: AnyHttpUrl | None = Field(None, description="POSTed a signed JSON notice of each booking")


class BookingSettingsIn(Strict):
    enabled: bool = True
    time_zone: TimeZone = Field(description="IANA name of the business's time zone, e.g. Europe/Berlin")
    hours: dict[str, list[tuple[str, str]]] = Field(
        description='opening spans per ISO weekday ("1" Monday … "7" Sunday) in the business\'s time zone, '
        'e.g. {"1": [["09:00", "12:00"], ["13:00", "17:00"]]}; a day left out is closed'
    )
    buffer_min: int = Field(0, ge=0, le=240, description="minutes kept free after each appointment")
    min_notice_min: int = Field(60, ge=0, le=43200, description="how soon a visitor may book, in minutes")
    horizon_days: int = Field(60, ge=1, le=730, description="how far ahead a visitor may book, in days")
    slot_step_min: int = Field(30, ge=5, le=240, description="minutes between offered start times")
    reminder_hours: list[Annotated[int, Field(ge=1, le=MAX_NOTICE_HOURS)]] = Field(
        default_factory=lambda: [24], max_length=MAX_REMINDERS, description="reminder mails, hours before"
    )
    follow_up_hours: int | None = Field(24, ge=1, le=MAX_NOTICE_HOURS)
    notify: Notify = Field(default_factory=Notify)
    rotate_webhook_secret: bool = Field(False, description="issue a new webhook signing secret (shown once)")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        checked: dict[str, list[tuple[str, str]]] = {}
        for day, spans in value.items():
            if day not in {"1", "2", "3", "4", "5", "6", "7"}:
                raise ValueError(f"day {day!r}: days are ISO weekdays, '1' (Monday) to '7' (Sunday)")
            if len(spans) > MAX_SPANS_PER_DAY:
                raise ValueError(f"day {day}: at most {MAX_SPANS_PER_DAY} opening spans")
            parsed: list[tuple[time, time]] = []
            for opens, closes in spans:
                for moment in (opens, closes):
                    if not _HHMM.match(moment):
                        raise ValueError(f"day {day}: {moment!r} is not a time of day as HH:MM (00:00-23:59)")
                start, end = time.fromisoformat(opens), time.fromisoformat(closes)
                if end <= start:
                    raise ValueError(f"day {day}: {opens}-{closes} must end after it starts")
                parsed.append((start, end))
            parsed.sort()
            for (_, first_end), (second_start, _) in zip(parsed, parsed[1:], strict=False):
                if second_start < first_end:
                    raise ValueError(f"day {day}: opening spans overlap")
            if parsed:
                checked[day] = [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in parsed]
        return dict(sorted(checked.items()))


class BookingSettingsPublic(BaseModel):
    bot_id: uuid.UUID
    #: False: the bot has never been set up to book (these are the defaults a first PUT would start from).
    configured: bool
    enabled: bool
    time_zone: str
    hours: dict[str, list[tuple[str, str]]]
    buffer_min: int
    min_notice_min: int
    horizon_days: int
    slot_step_min: int
    reminder_hours: list[int]
    follow_up_hours: int | None
    notify: dict[str, Any]
    has_webhook_secret: bool
    #: Only in the answer that issued it: the secret the owner's webhook verifies signatures with.
    webhook_secret: str | None = None
    updated_at: datetime | None


# -- services, resources, closures, busy blocks -----------------------------------------------------------


class ServiceCreate(Strict):
    bot_id: uuid.UUID
    name: Name
    duration_min: int = Field(ge=5, le=720)
    description: Text = ""
    active: bool = True
    position: int = Field(0, ge=0, le=10_000)


class ServiceUpdate(Strict):
    name: Name | None = None
    duration_min: int | None = Field(None, ge=5, le=720)
    description: Text | None = None
    active: bool | None = None
    position: int | None = Field(None, ge=0, le=10_000)


class ServicePublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    name: str
    duration_min: int
    description: str
    active: bool
    position: int
    created_at: datetime


class ResourceCreate(Strict):
    bot_id: uuid.UUID
    name: Name
    active: bool = True


class ResourceUpdate(Strict):
    name: Name | None = None
    active: bool | None = None


class ResourcePublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    name: str
    active: bool
    created_at: datetime


class ClosureCreate(Strict):
    bot_id: uuid.UUID
    starts_on: date
    ends_on: date
    reason: Reason = ""

    @model_validator(mode="after")
    def _order(self) -> ClosureCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must be on or after starts_on")
        return self


class ClosureUpdate(Strict):
    starts_on: date | None = None
    ends_on: date | None = None
    reason: Reason | None = None


class ClosurePublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    starts_on: date
    ends_on: date
    reason: str


class BusyBlockCreate(Strict):
    bot_id: uuid.UUID
    resource_id: uuid.UUID | None = Field(None, description="the resource it takes (none: every resource)")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    title: Reason = ""

    @model_validator(mode="after")
    def _order(self) -> BusyBlockCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class BusyBlockUpdate(Strict):
    resource_id: uuid.UUID | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    title: Reason | None = None


class BusyBlockPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    resource_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    title: str


# -- availability and bookings ---------------------------------------------------------------------------


class SlotPublic(BaseModel):
    start: datetime
    end: datetime
    resource_ids: list[uuid.UUID]

    @classmethod
    def of(cls, slot: Slot) -> SlotPublic:
        return cls(start=slot.start, end=slot.end, resource_ids=list(slot.resource_ids))


class AvailabilityOut(BaseModel):
    time_zone: str = Field(description="the business's time zone (slots are in UTC)")
    slots: list[SlotPublic]
    #: Connected calendars that could not be asked: these slots come from the others.
    failed_calendars: list[str]


class BookingCreate(Strict):
    bot_id: uuid.UUID
    service_id: uuid.UUID
    start: AwareDatetime
    name: Name
    email: EmailAddress
    time_zone: TimeZone | None = Field(None, description="the visitor's IANA time zone (default: the business's)")
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] = "en"
    notes: Text = ""

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)


class RescheduleIn(Strict):
    start: AwareDatetime


class AppointmentPublic(BaseModel):
    id: uuid.UUID
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
    status: AppointmentStatus
    source: Literal["chat", "api", "dashboard"]
    uid: str
    sequence: int
    #: Connected calendars it was written into: calendar id → the event's id there.
    external: dict[str, str]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def of(cls, appointment: Appointment) -> AppointmentPublic:
        return cls.model_validate(appointment, from_attributes=True)

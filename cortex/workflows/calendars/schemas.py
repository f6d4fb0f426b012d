"""Request and response models of the calendar connections API. Nothing secret ever goes out: no
password, no token, no sealed blob; a CalDAV connection shows its URL and user name only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cortex.time_zones import check_time_zone

CalendarKind = Literal["caldav", "google", "outlook"]
OAuthProvider = Literal["google", "outlook"]
# A calendar's name is a label in the dashboard and in the owner's "calendar is down" mail.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class CalendarPublic(BaseModel):
    id: uuid.UUID
    kind: CalendarKind
    name: str
    #: The CalDAV collection's URL and user (None for Google and Outlook).
    url: str | None = None
    username: str | None = None
    #: The provider account it belongs to (Google, Outlook).
    account: str | None = None
    resource_id: uuid.UUID | None
    write_bookings: bool
    status: Literal["ok", "error"]
    last_error: str | None
    last_checked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> CalendarPublic:
        config = dict(row["config"] or {})
        return cls(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            url=config.get("calendar_url") or config.get("url"),
            username=config.get("username"),
            account=config.get("account") or config.get("mailbox"),
            resource_id=row["resource_id"],
            write_bookings=row["write_bookings"],
            status=row["status"],
            last_error=row["last_error"],
            last_checked_at=row["last_checked_at"],
            created_at=row["created_at"],
        )


def _time_zone(value: str | None) -> str | None:
    return None if value is None else check_time_zone(value)


class CalDAVConnect(BaseModel):
    """Connect a CalDAV calendar: checked by asking it once before it is saved."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["caldav"] = "caldav"
    name: Name | None = Field(None, description="a label; the calendar's own name when omitted")
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)] = Field(
        description="the calendar collection's URL, or the server's (its first calendar is taken)"
    )
    username: Annotated[str, StringConstraints(max_length=320)] = ""
    password: Annotated[str, StringConstraints(max_length=1000)] = ""
    resource_id: uuid.UUID | None = Field(None, description="the resource whose busy time it holds (none: every one)")
    write_bookings: bool = True
    time_zone: str | None = Field(
        None,
        description="the zone its all-day events are read in (default: the business's booking time zone, "
        "that of the resource's bot, or the workspace's when its bots share one; else UTC)",
    )

    _zone = field_validator("time_zone")(classmethod(lambda cls, value: _time_zone(value)))


class CalendarUpdate(BaseModel):
    """What may change on a connection; `resource_id: null` makes it block every resource."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    resource_id: uuid.UUID | None = None
    write_bookings: bool | None = None


class OAuthStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    resource_id: uuid.UUID | None = None
    write_bookings: bool = True


class OAuthStarted(BaseModel):
    #: Send the browser here: the provider's consent page, which comes back to the callback.
    authorize_url: str
    expires_in: int


class CalendarTest(BaseModel):
    ok: bool
    error: str | None
    #: Busy spans found in the next 7 days (a quick look that it reads what the owner expects).
    busy_spans: int
    calendar: CalendarPublic

"""Google Calendar through its REST API (v3): busy time from `freeBusy`, bookings written with events
insert, patch and delete (`sendUpdates=none`: Cortex mails the visitor itself).

config: {calendar_id ("primary" or an address), account}; credentials: OAuth tokens (see oauth.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from cortex.workflows.calendars.base import CalendarUnavailable, EventSpec, Interval, merge_intervals
from cortex.workflows.calendars.oauth import OAuthCalendar

# Google's own limit for one error message is short; the owner sees at most this much of it.
_MAX_MESSAGE_CHARS = 300


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(value: datetime, time_zone: str) -> dict[str, str]:
    """An event time as Google takes it: the instant with its offset, and the zone it is shown in."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, time_zone = ZoneInfo("UTC"), "UTC"
    return {"dateTime": value.astimezone(zone).isoformat(), "timeZone": time_zone}


def google_event(event: EventSpec) -> dict[str, Any]:
    """The events resource of a booking."""
    return {
        "summary": event.summary,
        "description": event.description,
        "start": _local(event.start, event.time_zone),
        "end": _local(event.end, event.time_zone),
        "status": "confirmed" if event.status == "CONFIRMED" else "cancelled",
        "transparency": "opaque",
        "extendedProperties": {"private": {"cortexUid": event.uid, "cortexSequence": str(event.sequence)}},
    }


class GoogleCalendar(OAuthCalendar):
    kind = "google"
    oauth_kind = "google"

    @property
    def _calendar_id(self) -> str:
        return str(self.config.get("calendar_id") or "primary")

    def _url(self, path: str) -> str:
        return f"{self.settings.google_api_url.rstrip('/')}/calendar/v3{path}"

    def _events_url(self, event_id: str | None = None) -> str:
        base = self._url(f"/calendars/{quote(self._calendar_id, safe='')}/events")
        return base if event_id is None else f"{base}/{quote(event_id, safe='')}"

    def error_message(self, response: httpx.Response) -> str:
        try:
            error = response.json()["error"]
            message = str(error.get("message") or "")[:_MAX_MESSAGE_CHARS]
            reasons = ", ".join(str(item.get("reason")) for item in error.get("errors") or [] if item.get("reason"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"Google Calendar answered {response.status_code}"
        detail = f"{message} ({reasons})" if reasons else message
        return f"Google Calendar answered {response.status_code}: {detail}"

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        response = await self.api(
            "POST",
            self._url("/freeBusy"),
            json={"timeMin": _rfc3339(start), "timeMax": _rfc3339(end), "items": [{"id": self._calendar_id}]},
        )
        try:
            answer = response.json()["calendars"][self._calendar_id]
        except (ValueError, KeyError, TypeError):
            raise CalendarUnavailable("Google Calendar's free/busy answer did not include this calendar") from None
        if answer.get("errors"):
            reasons = ", ".join(str(error.get("reason")) for error in answer["errors"])
            raise CalendarUnavailable(f"Google Calendar could not tell this calendar's busy time ({reasons})")
        spans = [
            Interval(datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"]))
            for item in answer.get("busy") or []
        ]
        return merge_intervals([Interval(s.start.astimezone(UTC), s.end.astimezone(UTC)) for s in spans])

    async def create(self, event: EventSpec) -> str:
        response = await self.api("POST", self._events_url(), params={"sendUpdates": "none"}, json=google_event(event))
        return str(response.json()["id"])

    async def update(self, external_id: str, event: EventSpec) -> None:
        await self.api("PATCH", self._events_url(external_id), params={"sendUpdates": "none"}, json=google_event(event))

    async def delete(self, external_id: str) -> None:
        # 410: deleted already (by us before, or by the owner in Google Calendar); 404: never there.
        await self.api("DELETE", self._events_url(external_id), params={"sendUpdates": "none"}, ok=(200, 204, 404, 410))

    async def describe(self) -> dict[str, Any]:
        response = await self.api("GET", self._url(f"/calendars/{quote(self._calendar_id, safe='')}"))
        body = response.json()
        return {"display_name": str(body.get("summary") or self._calendar_id), "id": str(body.get("id") or "")}

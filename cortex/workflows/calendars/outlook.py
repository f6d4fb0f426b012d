"""Outlook (Microsoft 365) calendars through Microsoft Graph: busy time from `getSchedule` on the
mailbox, bookings written with events create, patch and delete on the user's default calendar.

config: {mailbox (the address getSchedule asks about)}; credentials: OAuth tokens (see oauth.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from cortex.workflows.calendars.base import CalendarUnavailable, EventSpec, Interval, merge_intervals
from cortex.workflows.calendars.oauth import OAuthCalendar

#: getSchedule statuses that make a slot unbookable ("free" and "unknown" do not).
BUSY_STATUSES = frozenset({"busy", "oof", "tentative", "workingElsewhere"})
# The availabilityView string is not used, but Graph requires a granularity: 15 minutes is its default
# tier and keeps that string short over a 60-day search.
_VIEW_INTERVAL_MIN = 15
_MAX_MESSAGE_CHARS = 300


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def parse_graph_time(value: dict[str, Any]) -> datetime:
    """A dateTimeTimeZone in UTC (Graph writes seven fractional digits; Python reads six)."""
    text = str(value["dateTime"]).rstrip("Z")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    zone = str(value.get("timeZone") or "UTC")
    if zone not in ("UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
        raise CalendarUnavailable(f"Microsoft Graph answered in time zone {zone!r} instead of UTC")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def graph_event(event: EventSpec) -> dict[str, Any]:
    """The event resource of a booking (UTC times; Outlook shows them in the owner's zone)."""
    return {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": _graph_time(event.start),
        "end": _graph_time(event.end),
        "showAs": "busy",
        "isReminderOn": False,
    }


class OutlookCalendar(OAuthCalendar):
    kind = "outlook"
    oauth_kind = "outlook"

    def _url(self, path: str) -> str:
        return f"{self.settings.ms_graph_url.rstrip('/')}/v1.0{path}"

    def error_message(self, response: httpx.Response) -> str:
        try:
            error = response.json()["error"]
            detail = f"{error.get('code')}: {str(error.get('message') or '')[:_MAX_MESSAGE_CHARS]}"
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"Microsoft Graph answered {response.status_code}"
        return f"Microsoft Graph answered {response.status_code} ({detail})"

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        mailbox = str(self.config.get("mailbox") or "")
        response = await self.api(
            "POST",
            self._url("/me/calendar/getSchedule"),
            headers={"Prefer": 'outlook.timezone="UTC"'},
            json={
                "schedules": [mailbox],
                "startTime": _graph_time(start),
                "endTime": _graph_time(end),
                "availabilityViewInterval": _VIEW_INTERVAL_MIN,
            },
        )
        try:
            (schedule,) = [
                item for item in response.json()["value"] if item.get("scheduleId", "").lower() == mailbox.lower()
            ]
        except (ValueError, KeyError, TypeError):
            raise CalendarUnavailable("Microsoft Graph's schedule answer did not include this mailbox") from None
        if schedule.get("error"):
            error = schedule["error"]
            raise CalendarUnavailable(
                f"Microsoft Graph could not tell this mailbox's busy time ({error.get('responseCode')})"
            )
        spans = [
            Interval(parse_graph_time(item["start"]), parse_graph_time(item["end"]))
            for item in schedule.get("scheduleItems") or []
            if item.get("status") in BUSY_STATUSES
        ]
        return merge_intervals(spans, start=start, end=end)

    async def create(self, event: EventSpec) -> str:
        # transactionId: Graph answers a retried create with the event it made the first time.
        body = {**graph_event(event), "transactionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cortex:{event.uid}"))}
        response = await self.api("POST", self._url("/me/calendar/events"), ok=(200, 201), json=body)
        return str(response.json()["id"])

    async def update(self, external_id: str, event: EventSpec) -> None:
        await self.api("PATCH", self._url(f"/me/events/{quote(external_id, safe='')}"), json=graph_event(event))

    async def delete(self, external_id: str) -> None:
        # 404: deleted already (by us before, or by the owner in Outlook).
        await self.api("DELETE", self._url(f"/me/events/{quote(external_id, safe='')}"), ok=(200, 204, 404))

    async def describe(self) -> dict[str, Any]:
        me = (await self.api("GET", self._url("/me"))).json()
        calendar = (await self.api("GET", self._url("/me/calendar"))).json()
        mailbox = str(me.get("mail") or me.get("userPrincipalName") or "")
        return {"display_name": f"{calendar.get('name') or 'Calendar'} ({mailbox})", "mailbox": mailbox}

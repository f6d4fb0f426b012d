"""A local server speaking Google Calendar API v3's wire format, and Google's OAuth 2.0 endpoints.

Stands in for accounts.google.com, oauth2.googleapis.com and www.googleapis.com (point
CORTEX_GOOGLE_OAUTH_URL at `<url>/o/oauth2/v2/auth`, CORTEX_GOOGLE_TOKEN_URL at `<url>/token` and
CORTEX_GOOGLE_API_URL at `<url>`). It keeps events in memory and answers what Cortex sends:
`POST /calendar/v3/freeBusy`, `GET /calendar/v3/calendars/{id}`, and events insert, get, list, patch
and delete, with Google's JSON shapes and error objects (`{"error": {"code", "message", "errors":
[{"domain", "reason", …}], "status"}}`), a 401 `authError` for an expired token, and 410 `deleted` for
an event deleted twice. Busy time is what Google counts: opaque, not cancelled events.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cortex.devtools.fake_oauth import FakeProvider, Request, Response

CLIENT_ID = "cortex-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-google-client-secret"


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(code: int, message: str, reason: str, status: str, **extra: str) -> Response:
    return Response(
        code,
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason, **extra}],
                "status": status,
            }
        },
    )


class FakeGoogleCalendar(FakeProvider):
    """Google Calendar for one user (`user`, whose primary calendar is also called by that address)."""

    routes = [
        ("GET", "/o/oauth2/v2/auth", "authorize"),
        ("POST", "/token", "token"),
        ("POST", "/calendar/v3/freeBusy", "free_busy"),
        ("GET", "/calendar/v3/calendars/{calendar}", "get_calendar"),
        ("GET", "/calendar/v3/calendars/{calendar}/events", "list_events"),
        ("POST", "/calendar/v3/calendars/{calendar}/events", "insert_event"),
        ("GET", "/calendar/v3/calendars/{calendar}/events/{event}", "get_event"),
        ("PATCH", "/calendar/v3/calendars/{calendar}/events/{event}", "patch_event"),
        ("DELETE", "/calendar/v3/calendars/{calendar}/events/{event}", "delete_event"),
    ]

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        user: str = "owner@example.com",
        time_zone: str = "UTC",
        port: int = 0,
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, user=user, port=port)
        self.time_zone = time_zone
        #: calendar id -> event id -> the event resource as Google returns it.
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {user: {}}

    # -- for tests ------------------------------------------------------------------------------

    def add_event(
        self,
        summary: str,
        start: datetime | date,
        end: datetime | date,
        *,
        calendar: str | None = None,
        transparency: str = "opaque",
        status: str = "confirmed",
    ) -> str:
        """An event the owner made in Google Calendar itself (a date: an all-day event); its id."""
        when: dict[str, Any] = (
            {"start": {"dateTime": _rfc3339(start)}, "end": {"dateTime": _rfc3339(end)}}
            if isinstance(start, datetime) and isinstance(end, datetime)
            else {"start": {"date": start.isoformat()}, "end": {"date": end.isoformat()}}
        )
        with self.lock:
            return self._store(
                calendar or self.user,
                {"summary": summary, "transparency": transparency, "status": status, **when},
            )["id"]

    def events(self, calendar: str | None = None) -> list[dict[str, Any]]:
        """The calendar's events, deleted ones included (status "cancelled"), as Google keeps them."""
        with self.lock:
            return [dict(event) for event in self.calendars.get(calendar or self.user, {}).values()]

    # -- the API -----------------------------------------------------------------------------------

    def _calendar_id(self, name: str) -> str:
        return self.user if name == "primary" else name

    def _span(self, event: dict[str, Any]) -> tuple[datetime, datetime]:
        zone = ZoneInfo(event["start"].get("timeZone") or self.time_zone)

        def point(value: dict[str, Any]) -> datetime:
            if "dateTime" in value:
                moment = datetime.fromisoformat(value["dateTime"])
                return moment if moment.tzinfo else moment.replace(tzinfo=zone)
            return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), tzinfo=zone)

        return point(event["start"]), point(event["end"])

    def _store(self, calendar_id: str, body: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        now = _rfc3339(datetime.now(UTC))
        event_id = event_id or secrets.token_hex(13)
        existing = self.calendars.setdefault(calendar_id, {}).get(event_id)
        event = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "creator": {"email": self.user},
            "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **(existing or {}),
            **body,
            "updated": now,
            "etag": f'"{int(time.time() * 1000)}"',
        }
        if existing is not None and ("start" in body or "end" in body):
            event["sequence"] = int(existing.get("sequence", 0)) + 1
        start, end = self._span(event)
        if end <= start:
            raise _BadRequest("The specified time range is empty.", "timeRangeEmpty")
        self.calendars[calendar_id][event_id] = event
        return event

    def _guard(self, request: Request) -> Response | None:
        with self.lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                return _error(status, "Backend Error", "backendError", "UNAVAILABLE")
        if self.authenticated(request) is None:
            return _error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
                "authError",
                "UNAUTHENTICATED",
                location="Authorization",
                locationType="header",
            )
        return None

    def free_busy(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        body = request.json()
        try:
            time_min = datetime.fromisoformat(body["timeMin"])
            time_max = datetime.fromisoformat(body["timeMax"])
        except (KeyError, TypeError, ValueError):
            return _error(400, "Bad Request", "badRequest", "INVALID_ARGUMENT")
        if time_min.tzinfo is None or time_max.tzinfo is None:
            return _error(400, "Bad Request", "badRequest", "INVALID_ARGUMENT")
        if time_max <= time_min:
            return _error(400, "The specified time range is empty.", "timeRangeEmpty", "INVALID_ARGUMENT")
        answer: dict[str, Any] = {}
        with self.lock:
            for item in body.get("items", []):
                calendar_id = self._calendar_id(item["id"])
                if calendar_id not in self.calendars:
                    answer[item["id"]] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                    continue
                spans = []
                for event in self.calendars[calendar_id].values():
                    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
                        continue
                    start, end = self._span(event)
                    if start < time_max and end > time_min:
                        spans.append((max(start, time_min), min(end, time_max)))
                merged: list[list[datetime]] = []
                for start, end in sorted(spans):
                    if merged and start <= merged[-1][1]:
                        merged[-1][1] = max(merged[-1][1], end)
                    else:
                        merged.append([start, end])
                answer[item["id"]] = {"busy": [{"start": _rfc3339(a), "end": _rfc3339(b)} for a, b in merged]}
        return Response(
            200,
            {
                "kind": "calendar#freeBusy",
                "timeMin": _rfc3339(time_min),
                "timeMax": _rfc3339(time_max),
                "calendars": answer,
            },
        )

    def get_calendar(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        calendar_id = self._calendar_id(params["calendar"])
        if calendar_id not in self.calendars:
            return _error(404, "Not Found", "notFound", "NOT_FOUND")
        return Response(
            200,
            {
                "kind": "calendar#calendar",
                "etag": '"1"',
                "id": calendar_id,
                "summary": calendar_id,
                "timeZone": self.time_zone,
            },
        )

    def _event_or_error(self, params: dict[str, str]) -> dict[str, Any] | Response:
        calendar_id = self._calendar_id(params["calendar"])
        event = self.calendars.get(calendar_id, {}).get(params["event"])
        if event is None:
            return _error(404, "Not Found", "notFound", "NOT_FOUND")
        return event

    def list_events(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        calendar_id = self._calendar_id(params["calendar"])
        if calendar_id not in self.calendars:
            return _error(404, "Not Found", "notFound", "NOT_FOUND")
        with self.lock:
            items = [e for e in self.calendars[calendar_id].values() if e["status"] != "cancelled"]
        return Response(
            200, {"kind": "calendar#events", "summary": calendar_id, "timeZone": self.time_zone, "items": items}
        )

    def insert_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        calendar_id = self._calendar_id(params["calendar"])
        if calendar_id not in self.calendars:
            return _error(404, "Not Found", "notFound", "NOT_FOUND")
        body = request.json()
        if not isinstance(body, dict) or "start" not in body or "end" not in body:
            return _error(400, "Missing end time.", "required", "INVALID_ARGUMENT")
        try:
            with self.lock:
                return Response(200, self._store(calendar_id, body))
        except _BadRequest as exc:
            return _error(400, exc.message, exc.reason, "INVALID_ARGUMENT")
        except (KeyError, ValueError):
            return _error(400, "Invalid start time.", "invalid", "INVALID_ARGUMENT")

    def get_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._event_or_error(params)
        return found if isinstance(found, Response) else Response(200, found)

    def patch_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._event_or_error(params)
            if isinstance(found, Response):
                return found
            if found["status"] == "cancelled":
                return _error(410, "Resource has been deleted", "deleted", "NOT_FOUND")
            try:
                return Response(200, self._store(self._calendar_id(params["calendar"]), request.json(), found["id"]))
            except _BadRequest as exc:
                return _error(400, exc.message, exc.reason, "INVALID_ARGUMENT")

    def delete_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._event_or_error(params)
            if isinstance(found, Response):
                return found
            if found["status"] == "cancelled":
                return _error(410, "Resource has been deleted", "deleted", "NOT_FOUND")
            found["status"] = "cancelled"
            found["updated"] = _rfc3339(datetime.now(UTC))
        return Response(204)


class _BadRequest(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

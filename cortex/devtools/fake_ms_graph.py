"""A local server speaking Microsoft Graph's calendar wire format, and the Microsoft identity platform's
OAuth 2.0 v2.0 endpoints.

Stands in for login.microsoftonline.com and graph.microsoft.com (point CORTEX_MS_LOGIN_URL and
CORTEX_MS_GRAPH_URL at `url`). It answers `GET /v1.0/me`, `GET /v1.0/me/calendar`,
`POST /v1.0/me/calendar/getSchedule` (scheduleItems with `Prefer: outlook.timezone`, the
availabilityView string) and events create, get, patch and delete, with Graph's shapes: dateTimeTimeZone
values with seven fractional digits, `{"error": {"code", "message", "innerError"}}` errors, a 401
`InvalidAuthenticationToken` for an expired token; its token endpoint rotates refresh tokens and
answers AADSTS-style errors, as Microsoft's does.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cortex.devtools.fake_oauth import FakeProvider, Request, Response

CLIENT_ID = "5f1c5e2a-0000-4000-8000-00000000c0de"
CLIENT_SECRET = "ms-test-client-secret~0123456789"
BUSY_STATUSES = ("busy", "oof", "tentative", "workingElsewhere")
_WINDOWS_ZONES = {"Pacific Standard Time": "America/Los_Angeles", "W. Europe Standard Time": "Europe/Berlin"}


def _graph_time(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _parse(value: dict[str, Any]) -> datetime:
    """A dateTimeTimeZone value as an aware datetime."""
    zone_name = value.get("timeZone") or "UTC"
    zone = ZoneInfo(_WINDOWS_ZONES.get(zone_name, zone_name))
    text = value["dateTime"]
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _error(status: int, code: str, message: str) -> Response:
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}
    return Response(status, {"error": {"code": code, "message": message, "innerError": inner}})


class FakeMSGraph(FakeProvider):
    """One Microsoft 365 user's mailbox calendar."""

    routes = [
        ("GET", "/{tenant}/oauth2/v2.0/authorize", "authorize"),
        ("POST", "/{tenant}/oauth2/v2.0/token", "token"),
        ("GET", "/v1.0/me", "me"),
        ("GET", "/v1.0/me/calendar", "calendar"),
        ("POST", "/v1.0/me/calendar/getSchedule", "get_schedule"),
        ("POST", "/v1.0/me/calendar/events", "create_event"),
        ("GET", "/v1.0/me/events/{event}", "get_event"),
        ("PATCH", "/v1.0/me/events/{event}", "patch_event"),
        ("DELETE", "/v1.0/me/events/{event}", "delete_event"),
    ]

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        user: str = "owner@contoso.example",
        port: int = 0,
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, user=user, port=port)
        #: event id -> the event resource as Graph returns it.
        self.calendar_events: dict[str, dict[str, Any]] = {}

    def rotates_refresh_tokens(self) -> bool:
        return True

    def token_error(self, status: int, error: str, description: str) -> Response:
        codes = {"invalid_grant": 70000, "invalid_client": 7000215, "invalid_request": 900144}
        code = codes.get(error, 90000)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return Response(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {uuid.uuid4()}\r\nTimestamp: {now}",
                "error_codes": [code],
                "timestamp": now,
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
        )

    # -- for tests ------------------------------------------------------------------------------

    def add_event(self, subject: str, start: datetime, end: datetime, *, show_as: str = "busy") -> str:
        """An event the owner made in Outlook itself; its id."""
        with self.lock:
            return self._store(
                {
                    "subject": subject,
                    "start": {"dateTime": _graph_time(start, ZoneInfo("UTC")), "timeZone": "UTC"},
                    "end": {"dateTime": _graph_time(end, ZoneInfo("UTC")), "timeZone": "UTC"},
                    "showAs": show_as,
                }
            )["id"]

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(event) for event in self.calendar_events.values()]

    # -- the API -----------------------------------------------------------------------------------

    def _store(self, body: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        event_id = event_id or "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(30)).decode().rstrip("=")
        existing = self.calendar_events.get(event_id, {})
        event = {
            "@odata.etag": f'W/"{secrets.token_hex(8)}"',
            "id": event_id,
            "createdDateTime": now,
            "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(16).upper(),
            "isCancelled": False,
            "showAs": "busy",
            "type": "singleInstance",
            "organizer": {"emailAddress": {"name": self.user, "address": self.user}},
            "body": {"contentType": "text", "content": ""},
            **existing,
            **body,
            "lastModifiedDateTime": now,
        }
        if _parse(event["end"]) <= _parse(event["start"]):
            raise ValueError("The end of the event must be after its start.")
        self.calendar_events[event_id] = event
        return event

    def _guard(self, request: Request) -> Response | None:
        with self.lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                return _error(status, "ServiceNotAvailable", "The service is temporarily unavailable.")
        if self.authenticated(request) is None:
            return _error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return None

    def me(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        return Response(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.user)),
                "displayName": "Calendar Owner",
                "mail": self.user,
                "userPrincipalName": self.user,
            },
        )

    def calendar(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        return Response(
            200, {"id": "AAMkAGcal", "name": "Calendar", "owner": {"name": "Calendar Owner", "address": self.user}}
        )

    def get_schedule(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        body = request.json()
        try:
            start, end = _parse(body["startTime"]), _parse(body["endTime"])
            schedules = list(body["schedules"])
        except (KeyError, TypeError, ValueError):
            return _error(400, "ErrorInvalidRequest", "The request is invalid.")
        interval = int(body.get("availabilityViewInterval") or 30)
        if not 5 <= interval <= 1440:
            return _error(400, "ErrorInvalidParameter", "availabilityViewInterval must be between 5 and 1440.")
        prefer = request.headers.get("prefer", "")
        zone_name = (
            prefer.split('outlook.timezone="', 1)[1].split('"', 1)[0] if "outlook.timezone=" in prefer else "UTC"
        )
        zone = ZoneInfo(_WINDOWS_ZONES.get(zone_name, zone_name))
        value = []
        for schedule in schedules:
            if schedule.lower() != self.user.lower():
                value.append(
                    {
                        "scheduleId": schedule,
                        "availabilityView": "",
                        "error": {
                            "message": "The specified object was not found in the store.",
                            "responseCode": "ErrorMailboxNotFound",
                        },
                    }
                )
                continue
            items = []
            with self.lock:
                events = [e for e in self.calendar_events.values() if not e["isCancelled"]]
            for event in events:
                event_start, event_end = _parse(event["start"]), _parse(event["end"])
                if event_start < end and event_end > start and event["showAs"] != "free":
                    items.append(
                        {
                            "isPrivate": False,
                            "status": event["showAs"],
                            "subject": event.get("subject", ""),
                            "start": {"dateTime": _graph_time(event_start, zone), "timeZone": zone_name},
                            "end": {"dateTime": _graph_time(event_end, zone), "timeZone": zone_name},
                        }
                    )
            items.sort(key=lambda item: item["start"]["dateTime"])
            # availabilityView: one digit per interval, the strongest status of the items overlapping it.
            rank = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
            spans = [(_parse(item["start"]), _parse(item["end"]), rank.get(item["status"], "2")) for item in items]
            step = timedelta(minutes=interval)
            view = []
            moment = start
            while moment < end:
                step_end = moment + step
                view.append(max((digit for a, b, digit in spans if a < step_end and b > moment), default="0"))
                moment = step_end
            value.append(
                {
                    "scheduleId": schedule,
                    "availabilityView": "".join(view),
                    "scheduleItems": items,
                    "workingHours": {
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "startTime": "08:00:00.0000000",
                        "endTime": "17:00:00.0000000",
                        "timeZone": {"name": "UTC"},
                    },
                }
            )
        return Response(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
                "value": value,
            },
        )

    def create_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        body = request.json()
        if not isinstance(body, dict) or "start" not in body or "end" not in body:
            return _error(400, "ErrorInvalidRequest", "Your request can't be completed. Start and End are required.")
        with self.lock:
            # transactionId makes a retried create idempotent, as in Graph.
            if body.get("transactionId"):
                for event in self.calendar_events.values():
                    if event.get("transactionId") == body["transactionId"]:
                        return Response(201, event)
            try:
                return Response(201, self._store(body))
            except (KeyError, ValueError) as exc:
                return _error(400, "ErrorInvalidRequest", f"Your request can't be completed. {exc}")

    def _find(self, params: dict[str, str]) -> dict[str, Any] | Response:
        event = self.calendar_events.get(params["event"])
        if event is None:
            return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return event

    def get_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._find(params)
        return found if isinstance(found, Response) else Response(200, found)

    def patch_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._find(params)
            if isinstance(found, Response):
                return found
            try:
                return Response(200, self._store(request.json(), found["id"]))
            except (KeyError, ValueError) as exc:
                return _error(400, "ErrorInvalidRequest", f"Your request can't be completed. {exc}")

    def delete_event(self, request: Request, params: dict[str, str]) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        with self.lock:
            found = self._find(params)
            if isinstance(found, Response):
                return found
            del self.calendar_events[found["id"]]
        return Response(204)

"""The CalDAV backend against a real Radicale: it reads and writes where the URL says, and its HTTP
client reaches only the addresses the SSRF check approved (no redirect followed, no other host)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cortex.devtools.radicale_server import RadicaleServer
from cortex.settings import Settings
from cortex.workflows.calendars import CalendarUnavailable, EventSpec
from cortex.workflows.calendars.caldav import CalDAVCalendar

LOCAL = Settings(calendar_allow_networks=["127.0.0.1/32", "::1/128"])
START = datetime(2027, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def radicale() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={"owner": "pw"}) as server:
        yield server


def _calendar(url: str, *, password: str = "pw", settings: Settings = LOCAL) -> CalDAVCalendar:
    return CalDAVCalendar(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        settings=settings,
        name="salon",
        resource_id=None,
        write_bookings=True,
        config={"url": url, "calendar_url": url, "username": "owner", "time_zone": "UTC"},
        credentials={"password": password},
        timeout_s=5,
    )


async def test_a_booking_written_by_name_is_read_back_as_busy(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("owner", "named").replace("127.0.0.1", "localhost")
    calendar = _calendar(url)
    spec = EventSpec(
        uid="named@cortex",
        sequence=0,
        summary="Haircut",
        description="",
        start=START + timedelta(hours=9),
        end=START + timedelta(hours=10),
        time_zone="UTC",
        attendee_name=None,
        attendee_email=None,
    )
    href = await calendar.create(spec)
    assert href.startswith(url)
    assert await calendar.create(spec) == href, "a retried create writes the same object"
    assert len(radicale.events("owner", "named")) == 1
    busy = await calendar.busy(START, START + timedelta(days=1))
    assert [(span.start, span.end) for span in busy] == [(spec.start, spec.end)]
    with pytest.raises(CalendarUnavailable, match="not in this calendar"):
        await calendar.delete("http://127.0.0.1:9/elsewhere.ics")


async def test_a_wrong_password_is_told_without_the_password(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("owner", "guarded")
    with pytest.raises(CalendarUnavailable) as refused:
        await _calendar(url, password="hunter2").busy(START, START + timedelta(days=1))
    assert "user name or password" in str(refused.value) and "hunter2" not in str(refused.value)


class _Recorder(BaseHTTPRequestHandler):
    """Redirects every request to `target` (307: the method is kept), or counts it when it is the target."""

    target = ""
    hits: list[str] = []

    def _answer(self) -> None:
        if self.target:
            self.send_response(307)
            self.send_header("Location", self.target)
        else:
            _Recorder.hits.append(self.command)
            self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PROPFIND = do_REPORT = do_PUT = do_OPTIONS = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> HTTPServer:
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def test_a_server_that_redirects_elsewhere_is_not_followed() -> None:
    # A "CalDAV server" that redirects to another address (the metadata service, in an attack): no
    # request reaches that address.
    elsewhere = _serve(type("Elsewhere", (_Recorder,), {"target": ""}))
    redirecting = _serve(
        type("Redirecting", (_Recorder,), {"target": f"http://127.0.0.1:{elsewhere.server_address[1]}/owner/cal/"})
    )
    try:
        with pytest.raises(CalendarUnavailable):
            await _calendar(f"http://127.0.0.1:{redirecting.server_address[1]}/owner/cal/").busy(
                START, START + timedelta(days=1)
            )
        assert _Recorder.hits == []
    finally:
        redirecting.shutdown()
        elsewhere.shutdown()


async def test_a_stopped_server_is_unavailable_quickly(radicale: RadicaleServer) -> None:
    calendar = _calendar("http://127.0.0.1:9/owner/calendar/")
    with pytest.raises(CalendarUnavailable, match="cannot be reached"):
        await calendar.busy(START, START + timedelta(days=1))

"""CalDAV calendars (Nextcloud, iCloud, Fastmail, Radicale…) through the `caldav` client.

The client is synchronous: every call runs in a worker thread, bounded by the client's own socket
timeout and by the caller's `asyncio.wait_for`. The URL is the owner's, so it is hostile: before each
use its host is resolved and every address checked against the SSRF policy (`cortex.fetch`); plain
http is accepted only for hosts the operator allow-listed (a local server), never for a public one,
since the password would cross the internet in the clear.

Busy time comes from a time-range event search with the recurrences expanded by the client (many
servers, Radicale among them, answer free-busy-query partly or not at all). Transparent and cancelled
events are free; an all-day event blocks its whole days in the calendar's time zone.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import niquests
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

from cortex.errors import Invalid
from cortex.fetch import AddressPolicy, FetchError, SafeFetcher
from cortex.fetch.addresses import IPAddress, blocked_reason, parse_host_ip
from cortex.settings import Settings
from cortex.workflows.calendars.base import CalendarUnavailable, ConnectedCalendar, EventSpec, Interval, merge_intervals

PRODID = "-//Cortex//Bookings//EN"


class PlainHttpRefused(Invalid):
    """A public CalDAV server over plain http: the password would cross the internet in the clear."""

    code = "https_required"


async def guard_url(settings: Settings, url: str) -> list[IPAddress]:
    """The checked addresses of the URL's host. Refuses a URL that points into our own network (unless
    allow-listed: `cortex.fetch`'s BlockedAddress, BadUrl, BadScheme, ConnectionFailed) or sends a
    password over plain http to a public host."""
    fetcher = SafeFetcher(policy=AddressPolicy.from_allow_list(settings.calendar_allow_networks))
    addresses = await fetcher.check(url)
    if urlsplit(url).scheme.lower() == "http" and any(blocked_reason(address) is None for address in addresses):
        raise PlainHttpRefused("use an https:// URL: the password would travel in the clear over plain http")
    return addresses


async def check_url(settings: Settings, url: str) -> list[IPAddress]:
    """`guard_url` for a connected calendar: CalendarUnavailable with the reason."""
    try:
        return await guard_url(settings, url)
    except (FetchError, PlainHttpRefused) as exc:
        raise CalendarUnavailable(exc.message) from None


def _pinned_session(url: str, addresses: list[IPAddress]) -> niquests.Session:
    """An HTTP session that reaches only the checked addresses of the URL's host: its own resolver knows
    that one name (a DNS answer that changed since the check, or another host, resolves to nothing), it
    follows no redirect (a redirect could point anywhere) and uses no proxy from the environment."""
    host = (urlsplit(url).hostname or "").lower()
    if parse_host_ip(host) is not None:
        session = niquests.Session()
    else:
        hosts = ",".join(f"{host}:{address}" for address in addresses)
        session = niquests.Session(resolver=f"in-memory://default/?hosts={hosts}")
    session.trust_env = False
    session.max_redirects = 0
    return session


def _client(url: str, username: str, password: str, timeout_s: float, addresses: list[IPAddress]) -> DAVClient:
    client = DAVClient(
        url=url,
        username=username,
        password=password,
        # The socket timeout bounds a thread whose caller gave up waiting.
        timeout=max(1, int(timeout_s + 0.999)),
        # DNS SRV/TXT discovery would send us to a host the SSRF check never saw.
        enable_rfc6764=False,
        # guard_url refused plain http for public hosts already.
        require_tls=False,
    )
    client.session.close()
    client.session = _pinned_session(url, addresses)
    return client


def unavailable(exc: BaseException) -> CalendarUnavailable:
    """A safe message for the owner: the server's answer or the network error, never the password."""
    if isinstance(exc, caldav_error.AuthorizationError):
        return CalendarUnavailable("the CalDAV server refused the user name or password")
    if isinstance(exc, caldav_error.NotFoundError):
        return CalendarUnavailable("no calendar at this URL")
    if isinstance(exc, caldav_error.DAVError):
        reason = getattr(exc, "reason", "") or type(exc).__name__
        return CalendarUnavailable(f"the CalDAV server answered with an error: {str(reason)[:200]}")
    if isinstance(exc, TimeoutError):
        return CalendarUnavailable("the CalDAV server did not answer in time")
    if isinstance(exc, OSError) or "connect" in type(exc).__name__.lower() or "timeout" in type(exc).__name__.lower():
        return CalendarUnavailable(f"the CalDAV server cannot be reached ({type(exc).__name__})")
    return CalendarUnavailable(f"the CalDAV server could not be asked ({type(exc).__name__})")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _as_utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def busy_of_component(component: Any, zone: ZoneInfo) -> Interval | None:
    """The busy span of one VEVENT (one occurrence), or None when it does not block time."""
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(component.get("STATUS", "CONFIRMED")).upper() == "CANCELLED":
        return None
    start_prop = component.get("DTSTART")
    if start_prop is None:
        return None
    start = start_prop.dt
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = end_prop.dt
    elif component.get("DURATION") is not None:
        end = start + component.get("DURATION").dt
    elif isinstance(start, datetime):
        end = start  # RFC 5545: no end and no duration: it takes no time
    else:
        end = start + timedelta(days=1)  # an all-day event without an end is that one day
    start_utc, end_utc = _as_utc(start, zone), _as_utc(end, zone)
    return Interval(start_utc, end_utc) if end_utc > start_utc else None


def event_ics(event: EventSpec) -> str:
    """The iCalendar object of a booking as stored in the calendar (UTC times, the mails' UID/SEQUENCE)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", datetime.now(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    vevent.add("status", event.status)
    vevent.add("transp", "OPAQUE")
    calendar.add_component(vevent)
    return calendar.to_ical().decode()


class CalDAVCalendar(ConnectedCalendar):
    """A CalDAV calendar collection: config {url, username, calendar_url, time_zone}; credentials {password}."""

    kind = "caldav"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calendar_url: str = self.config.get("calendar_url") or self.config["url"]
        self.zone = _zone(self.config.get("time_zone"))

    async def _run(self, work: Any, *args: Any) -> Any:
        addresses = await check_url(self.settings, self.calendar_url)
        try:
            return await asyncio.to_thread(work, addresses, *args)
        except CalendarUnavailable:
            raise
        except Exception as exc:  # the library raises its own errors and the HTTP library's
            raise unavailable(exc) from exc

    def _calendar(self, addresses: list[IPAddress]) -> tuple[DAVClient, Any]:
        client = _client(
            self.calendar_url,
            self.config.get("username", ""),
            self.credentials.get("password", ""),
            self.timeout_s,
            addresses,
        )
        return client, client.calendar(url=self.calendar_url)

    def _busy(self, addresses: list[IPAddress], start: datetime, end: datetime) -> list[Interval]:
        client, calendar = self._calendar(addresses)
        with client:
            found = calendar.search(start=start, end=end, event=True, expand=True)
            spans = []
            for item in found:
                for component in item.icalendar_instance.walk("VEVENT"):
                    span = busy_of_component(component, self.zone)
                    if span is not None:
                        spans.append(span)
        return merge_intervals(spans, start=start, end=end)

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        result: list[Interval] = await self._run(self._busy, start, end)
        return result

    def _put(self, addresses: list[IPAddress], href: str, event: EventSpec) -> None:
        client, _ = self._calendar(addresses)
        with client:
            response = client.put(href, event_ics(event), {"Content-Type": "text/calendar; charset=utf-8"})
            if response.status not in (200, 201, 204):
                raise CalendarUnavailable(f"the CalDAV server refused the event ({response.status})")

    async def create(self, event: EventSpec) -> str:
        # The object's name is derived from the UID, so a retried create overwrites instead of doubling.
        href = urljoin(self.calendar_url, f"{uuid.uuid5(uuid.NAMESPACE_URL, event.uid)}.ics")
        await self._run(self._put, href, event)
        return href

    async def update(self, external_id: str, event: EventSpec) -> None:
        await self._run(self._put, self._own_href(external_id), event)

    def _delete(self, addresses: list[IPAddress], href: str) -> None:
        client, _ = self._calendar(addresses)
        with client:
            try:
                client.delete(href)
            except caldav_error.NotFoundError:
                return

    async def delete(self, external_id: str) -> None:
        await self._run(self._delete, self._own_href(external_id))

    def _own_href(self, href: str) -> str:
        """An event URL inside this calendar (a row's stored id cannot send a request elsewhere)."""
        absolute = urljoin(self.calendar_url, href)
        if not absolute.startswith(self.calendar_url):
            raise CalendarUnavailable("the stored event is not in this calendar")
        return absolute

    def _describe(self, addresses: list[IPAddress]) -> dict[str, Any]:
        client, calendar = self._calendar(addresses)
        with client:
            name = calendar.get_display_name()
            # A tiny search proves the collection is a calendar we may read.
            now = datetime.now(UTC)
            calendar.search(start=now, end=now + timedelta(minutes=1), event=True, expand=True)
        return {"display_name": name or ""}

    async def describe(self) -> dict[str, Any]:
        """Ask the server once (the connection test): the calendar's display name."""
        result: dict[str, Any] = await self._run(self._describe)
        return result


def discover(url: str, username: str, password: str, timeout_s: float, addresses: list[IPAddress]) -> tuple[str, str]:
    """The calendar collection at `url` (reached at `addresses`, checked by guard_url), or the account's
    first calendar when `url` is the server or a principal: its URL and display name. Runs in a thread;
    raises the library's errors."""
    client = _client(url, username, password, timeout_s, addresses)
    with client:
        try:
            calendars = list(client.principal().calendars())
        except caldav_error.NotFoundError:
            calendars = []
        for calendar in calendars:
            if str(calendar.url).rstrip("/") == url.rstrip("/"):
                return str(calendar.url), calendar.get_display_name() or ""
        if not calendars:
            raise CalendarUnavailable("no calendar at this URL, and this account has none")
        first = calendars[0]
        return str(first.url), first.get_display_name() or ""

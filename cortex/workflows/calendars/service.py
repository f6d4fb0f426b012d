"""Connecting, testing, changing and disconnecting a workspace's calendars.

A CalDAV calendar is checked (SSRF policy, then one real query) before it is saved. A Google or Outlook
calendar is connected through the provider's consent page: `start_oauth` keeps a PKCE verifier and the
hash of a secret cookie under a one-time key in Redis and signs the rest into `state` (cortex.signed);
`finish_oauth` accepts the callback only in the browser that started it, once, before it expires, and
only then trades the code for tokens, which are sealed into the row.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from cortex import secrets_box, signed
from cortex.errors import Conflict, CortexError, Invalid, NotFound, Unavailable
from cortex.fetch import ConnectionFailed, FetchError
from cortex.settings import Settings
from cortex.workflows.calendars import Unopenable, open_calendar, seal_credentials, store
from cortex.workflows.calendars import oauth as oauth_flow
from cortex.workflows.calendars.base import CalendarUnavailable, ConnectedCalendar
from cortex.workflows.calendars.schemas import (
    CalDAVConnect,
    CalendarPublic,
    CalendarTest,
    CalendarUpdate,
    OAuthProvider,
    OAuthStart,
    OAuthStarted,
)

# Every slot search asks every calendar at once: 20 is far above what one business connects (a few
# staff calendars) and keeps that fan-out bounded.
MAX_CALENDARS_PER_WORKSPACE = 20
# A connection test looks one week ahead: enough to see the owner's usual events.
_TEST_WINDOW = timedelta(days=7)
STATE_PURPOSE = "calendar-oauth"
FLOW_KEY = "cortex:calendars:oauth:"
BROWSER_COOKIE = "cortex_calendar_oauth"


class CalendarRefused(Invalid):
    """The calendar did not accept the connection (unreachable, wrong password, not a calendar)."""

    code = "calendar_unavailable"


class OAuthFailed(CortexError):
    """The provider's round trip did not end in a connection; the message says why (shown to the owner)."""

    status_code = 400
    code = "calendar_oauth_failed"


async def list_calendars(pool: asyncpg.Pool, *, workspace_id: uuid.UUID) -> list[CalendarPublic]:
    return [CalendarPublic.of(row) for row in await store.list_calendars(pool, workspace_id=workspace_id)]


async def _check_resource(pool: asyncpg.Pool, *, workspace_id: uuid.UUID, resource_id: uuid.UUID | None) -> None:
    if resource_id is not None and not await store.resource_in_workspace(
        pool, workspace_id=workspace_id, resource_id=resource_id
    ):
        raise NotFound("no such resource in this workspace")


async def _check_room(pool: asyncpg.Pool, *, workspace_id: uuid.UUID) -> None:
    if len(await store.list_calendars(pool, workspace_id=workspace_id)) >= MAX_CALENDARS_PER_WORKSPACE:
        raise Conflict(f"a workspace connects at most {MAX_CALENDARS_PER_WORKSPACE} calendars")


async def connect_caldav(
    pool: asyncpg.Pool, settings: Settings, *, workspace_id: uuid.UUID, data: CalDAVConnect
) -> CalendarPublic:
    """Find the calendar at the URL, read a week of it, and save the connection (password sealed)."""
    from cortex.workflows.calendars import caldav

    await _check_resource(pool, workspace_id=workspace_id, resource_id=data.resource_id)
    await _check_room(pool, workspace_id=workspace_id)
    try:
        addresses = await caldav.guard_url(settings, data.url)
    except ConnectionFailed as exc:
        raise CalendarRefused(f"the CalDAV server cannot be reached: {exc.message}") from None
    timeout_s = settings.calendar_timeout_s
    try:
        calendar_url, display_name = await asyncio.wait_for(
            asyncio.to_thread(caldav.discover, data.url, data.username, data.password, timeout_s, addresses),
            timeout_s * 2,  # discovery takes two or three requests
        )
        # The server chose the calendar's URL: it is hostile too.
        await caldav.guard_url(settings, calendar_url)
    except CalendarUnavailable as exc:
        raise CalendarRefused(str(exc)) from None
    except FetchError as exc:
        raise CalendarRefused(f"the server points to a calendar that is refused: {exc.message}") from None
    except Exception as exc:  # the library's errors and the HTTP library's
        raise CalendarRefused(str(caldav.unavailable(exc))) from None
    time_zone = data.time_zone or await store.business_time_zone(
        pool, workspace_id=workspace_id, resource_id=data.resource_id
    )
    config = {"url": data.url, "username": data.username, "calendar_url": calendar_url, "time_zone": time_zone}
    credentials = {"password": data.password}
    probe = open_calendar(
        {
            "id": uuid.uuid4(),
            "workspace_id": workspace_id,
            "name": data.name or display_name,
            "resource_id": data.resource_id,
            "write_bookings": data.write_bookings,
            "config": config,
            "credentials_sealed": seal_credentials(settings, credentials),
            "kind": "caldav",
        },
        settings,
    )
    now = datetime.now(UTC)
    try:
        await asyncio.wait_for(probe.busy(now, now + _TEST_WINDOW), timeout_s)
    except CalendarUnavailable as exc:
        raise CalendarRefused(str(exc)) from None
    except TimeoutError:
        raise CalendarRefused("the CalDAV server did not answer in time") from None
    row = await store.insert_calendar(
        pool,
        workspace_id=workspace_id,
        kind="caldav",
        name=data.name or display_name or "CalDAV calendar",
        resource_id=data.resource_id,
        config=config,
        credentials_sealed=seal_credentials(settings, credentials),
        write_bookings=data.write_bookings,
    )
    return CalendarPublic.of(row)


async def update_calendar(
    pool: asyncpg.Pool, *, workspace_id: uuid.UUID, calendar_id: uuid.UUID, data: CalendarUpdate
) -> CalendarPublic:
    await _check_resource(pool, workspace_id=workspace_id, resource_id=data.resource_id)
    row = await store.update_calendar(
        pool,
        workspace_id=workspace_id,
        calendar_id=calendar_id,
        name=data.name,
        resource_id=data.resource_id,
        clear_resource="resource_id" in data.model_fields_set and data.resource_id is None,
        write_bookings=data.write_bookings,
    )
    if row is None:
        raise NotFound("no such calendar")
    return CalendarPublic.of(row)


async def disconnect(pool: asyncpg.Pool, *, workspace_id: uuid.UUID, calendar_id: uuid.UUID) -> None:
    """Forget the connection and its credentials (events already written there stay)."""
    if not await store.delete_calendar(pool, workspace_id=workspace_id, calendar_id=calendar_id):
        raise NotFound("no such calendar")


async def test_calendar(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    calendar_id: uuid.UUID,
    http: httpx.AsyncClient | None = None,
) -> CalendarTest:
    """Ask the calendar for a week of busy time now; the row records how it went."""
    from cortex.workflows.calendars import busy_everywhere

    row = await store.get_calendar(pool, workspace_id=workspace_id, calendar_id=calendar_id)
    if row is None:
        raise NotFound("no such calendar")
    try:
        calendar: ConnectedCalendar = open_calendar(row, settings, http=http)
    except secrets_box.SealedSecretError:
        calendar = Unopenable(row, settings)
    now = datetime.now(UTC)
    result = await busy_everywhere(pool, [calendar], now, now + _TEST_WINDOW, timeout_s=settings.calendar_timeout_s)
    fresh = await store.get_calendar(pool, workspace_id=workspace_id, calendar_id=calendar_id)
    if fresh is None:  # disconnected meanwhile
        raise NotFound("no such calendar")
    public = CalendarPublic.of(fresh)
    spans = sum(len(spans) for spans in result.busy.values())
    return CalendarTest(ok=not result.failed, error=public.last_error, busy_spans=spans, calendar=public)


# -- OAuth -------------------------------------------------------------------------------------------


def _browser_hash(secret: str) -> str:
    return hashlib.sha256(f"calendar-oauth-browser:{secret}".encode()).hexdigest()


async def start_oauth(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    member: str,
    provider: OAuthProvider,
    data: OAuthStart,
) -> tuple[OAuthStarted, str]:
    """The provider's consent URL, and the secret to set as this browser's cookie."""
    try:
        client = oauth_flow.provider(settings, provider)
    except oauth_flow.OAuthNotConfigured as exc:
        raise Unavailable(str(exc)) from None
    await _check_resource(pool, workspace_id=workspace_id, resource_id=data.resource_id)
    await _check_room(pool, workspace_id=workspace_id)
    flow_id = secrets.token_urlsafe(18)
    browser_secret = secrets.token_urlsafe(32)
    verifier, challenge = oauth_flow.pkce_pair()
    ttl_s = settings.calendar_oauth_state_ttl_s
    await redis.set(
        FLOW_KEY + flow_id,
        orjson.dumps({"verifier": verifier, "browser": _browser_hash(browser_secret)}),
        ex=ttl_s,
    )
    claims = {
        "flow": flow_id,
        "workspace_id": str(workspace_id),
        "member": member,
        "provider": provider,
        "name": data.name,
        "resource_id": str(data.resource_id) if data.resource_id else None,
        "write_bookings": data.write_bookings,
    }
    state = signed.sign(settings, STATE_PURPOSE, claims, ttl_s=ttl_s)
    url = oauth_flow.authorize_url(
        client, state=state, redirect_to=oauth_flow.redirect_uri(settings), code_challenge=challenge
    )
    return OAuthStarted(authorize_url=url, expires_in=ttl_s), browser_secret


async def finish_oauth(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    *,
    state: str,
    code: str | None,
    error: str | None,
    browser_secret: str | None,
    http: httpx.AsyncClient | None = None,
) -> CalendarPublic:
    """The provider's redirect back: check the state (signed, unexpired, unused, this browser's), trade
    the code for tokens, ask the calendar once, and save it. OAuthFailed with the reason otherwise."""
    try:
        claims = signed.verify(settings, STATE_PURPOSE, state)
    except signed.Expired:
        raise OAuthFailed("the connection took too long: start again") from None
    except signed.BadSignature:
        raise OAuthFailed("this sign-in did not come from Cortex") from None
    raw = await redis.getdel(FLOW_KEY + str(claims["flow"]))
    if raw is None:
        raise OAuthFailed("this sign-in was used already or has expired: start again")
    flow: dict[str, Any] = orjson.loads(raw)
    if not browser_secret or not hmac.compare_digest(_browser_hash(browser_secret), flow["browser"]):
        raise OAuthFailed("this sign-in was started in another browser: start again from the dashboard")
    if error:
        reason = "access was not granted" if error == "access_denied" else f"the provider answered {error}"
        raise OAuthFailed(f"the calendar was not connected: {reason}")
    if not code:
        raise OAuthFailed("the provider sent no authorization code")
    provider: OAuthProvider = claims["provider"]
    try:
        client = oauth_flow.provider(settings, provider)
    except oauth_flow.OAuthNotConfigured as exc:
        raise OAuthFailed(str(exc)) from None
    workspace_id = uuid.UUID(claims["workspace_id"])
    resource_id = uuid.UUID(claims["resource_id"]) if claims.get("resource_id") else None
    try:
        await _check_resource(pool, workspace_id=workspace_id, resource_id=resource_id)
    except NotFound:
        raise OAuthFailed("the resource chosen for this calendar was removed meanwhile") from None
    try:
        credentials = await oauth_flow.exchange_code(
            http,
            client,
            code=code,
            redirect_to=oauth_flow.redirect_uri(settings),
            code_verifier=flow["verifier"],
            timeout_s=settings.calendar_timeout_s,
        )
        config: dict[str, Any] = {"calendar_id": "primary"} if provider == "google" else {}
        probe = open_calendar(
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "name": "",
                "resource_id": resource_id,
                "write_bookings": claims["write_bookings"],
                "config": config,
                "credentials_sealed": seal_credentials(settings, credentials),
                "kind": provider,
            },
            settings,
            http=http,
        )
        about = await asyncio.wait_for(probe.describe(), settings.calendar_timeout_s)
        if provider == "google":
            config["account"] = about.get("id") or about["display_name"]
        else:
            config["mailbox"] = about["mailbox"]
            probe.config["mailbox"] = about["mailbox"]
        now = datetime.now(UTC)
        await asyncio.wait_for(probe.busy(now, now + _TEST_WINDOW), settings.calendar_timeout_s)
    except CalendarUnavailable as exc:
        raise OAuthFailed(f"the calendar was not connected: {exc}") from None
    except TimeoutError:
        raise OAuthFailed("the calendar was not connected: the provider did not answer in time") from None
    await _check_room(pool, workspace_id=workspace_id)
    row = await store.insert_calendar(
        pool,
        workspace_id=workspace_id,
        kind=provider,
        name=claims.get("name") or str(about["display_name"]),
        resource_id=resource_id,
        config=config,
        credentials_sealed=seal_credentials(settings, probe.credentials),
        write_bookings=bool(claims["write_bookings"]),
    )
    return CalendarPublic.of(row)

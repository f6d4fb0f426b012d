"""Google Calendar and Outlook as the providers speak them (the local stand-ins in cortex/devtools hold
to their wire formats): the consent URL, the code exchange with PKCE, one refresh per expired token even
for concurrent calls, Microsoft's rotating refresh tokens, and the providers' errors told in words."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cortex.devtools import fake_google_calendar, fake_ms_graph
from cortex.devtools.fake_google_calendar import FakeGoogleCalendar
from cortex.devtools.fake_ms_graph import FakeMSGraph
from cortex.settings import Settings
from cortex.workflows.calendars import CalendarUnavailable, EventSpec, oauth
from cortex.workflows.calendars.google import GoogleCalendar, google_event
from cortex.workflows.calendars.outlook import OutlookCalendar, parse_graph_time

REDIRECT = "https://cortex.example/api/langgraph/calendars/oauth/callback"


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogleCalendar]:
    with FakeGoogleCalendar() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeMSGraph]:
    with FakeMSGraph() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def settings(google: FakeGoogleCalendar, graph: FakeMSGraph) -> Settings:
    return Settings(
        google_client_id=fake_google_calendar.CLIENT_ID,
        google_client_secret=fake_google_calendar.CLIENT_SECRET,
        google_oauth_url=f"{google.url}/o/oauth2/v2/auth",
        google_token_url=f"{google.url}/token",
        google_api_url=google.url,
        ms_client_id=fake_ms_graph.CLIENT_ID,
        ms_client_secret=fake_ms_graph.CLIENT_SECRET,
        ms_login_url=graph.url,
        ms_graph_url=graph.url,
    )


async def _consent(provider: oauth.Provider, *, verifier_ok: bool = True) -> dict[str, Any]:
    verifier, challenge = oauth.pkce_pair()
    url = oauth.authorize_url(provider, state="the-state", redirect_to=REDIRECT, code_challenge=challenge)
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(url)
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    assert back["state"] == ["the-state"]
    return await oauth.exchange_code(
        None,
        provider,
        code=back["code"][0],
        redirect_to=REDIRECT,
        code_verifier=verifier if verifier_ok else verifier[::-1],
        timeout_s=5,
    )


def _calendar(cls: type, settings: Settings, credentials: dict[str, Any], **config: str) -> Any:
    return cls(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        settings=settings,
        name="test",
        resource_id=None,
        write_bookings=True,
        config=dict(config),
        credentials=credentials,
        timeout_s=5,
    )


def test_the_consent_urls_ask_for_offline_access_the_calendar_scopes_and_pkce(settings: Settings) -> None:
    _, challenge = oauth.pkce_pair()
    google = parse_qs(
        urlsplit(
            oauth.authorize_url(
                oauth.provider(settings, "google"), state="s", redirect_to=REDIRECT, code_challenge=challenge
            )
        ).query
    )
    assert google["access_type"] == ["offline"] and google["code_challenge_method"] == ["S256"]
    assert set(google["scope"][0].split()) == {
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.freebusy",
    }
    outlook = oauth.authorize_url(
        oauth.provider(settings, "outlook"), state="s", redirect_to=REDIRECT, code_challenge=challenge
    )
    assert urlsplit(outlook).path == "/common/oauth2/v2.0/authorize"
    assert "offline_access" in parse_qs(urlsplit(outlook).query)["scope"][0]
    with pytest.raises(oauth.OAuthNotConfigured):
        oauth.provider(Settings(google_client_id=None), "google")


async def test_a_code_is_worth_nothing_without_the_pkce_verifier(settings: Settings) -> None:
    with pytest.raises(CalendarUnavailable, match="revoked or has expired"):
        await _consent(oauth.provider(settings, "google"), verifier_ok=False)


async def test_a_wrong_client_secret_is_told_as_such(settings: Settings) -> None:
    wrong = Settings(**{**settings.model_dump(), "google_client_secret": "nope"})
    with pytest.raises(CalendarUnavailable, match="invalid_client"):
        await _consent(oauth.provider(wrong, "google"))


async def test_concurrent_calls_with_an_expired_token_refresh_it_once(
    settings: Settings, google: FakeGoogleCalendar
) -> None:
    credentials = await _consent(oauth.provider(settings, "google"))
    calendar = _calendar(GoogleCalendar, settings, credentials)
    google.expire_access_tokens()
    before = len(google.token_requests)
    start = datetime(2027, 1, 4, tzinfo=UTC)
    await asyncio.gather(*(calendar.busy(start, start + timedelta(days=1)) for _ in range(5)))
    assert [r["grant_type"] for r in google.token_requests[before:]] == ["refresh_token"]
    assert calendar.credentials_changed and calendar.credentials["refresh_token"] == credentials["refresh_token"]


async def test_an_access_token_near_its_expiry_is_refreshed_before_the_call(
    settings: Settings, google: FakeGoogleCalendar
) -> None:
    credentials = await _consent(oauth.provider(settings, "google"))
    calendar = _calendar(GoogleCalendar, settings, {**credentials, "expires_at": 0})
    requests_before = len(google.requests)
    await calendar.describe()
    paths = [r.path for r in google.requests[requests_before:]]
    assert paths == ["/token", "/calendar/v3/calendars/primary"], "refreshed first, no wasted 401"


async def test_microsoft_rotates_the_refresh_token_and_the_new_one_is_kept(
    settings: Settings, graph: FakeMSGraph
) -> None:
    credentials = await _consent(oauth.provider(settings, "outlook"))
    calendar = _calendar(OutlookCalendar, settings, credentials, mailbox=graph.user)
    graph.expire_access_tokens()
    start = datetime(2027, 1, 4, tzinfo=UTC)
    await calendar.busy(start, start + timedelta(days=1))
    assert calendar.credentials["refresh_token"] != credentials["refresh_token"]
    assert calendar.credentials["refresh_token"] in graph.refresh_tokens


async def test_provider_errors_are_told_in_the_providers_words(
    settings: Settings, google: FakeGoogleCalendar, graph: FakeMSGraph
) -> None:
    calendar = _calendar(GoogleCalendar, settings, await _consent(oauth.provider(settings, "google")))
    google.fail_next.append(503)
    with pytest.raises(CalendarUnavailable, match=r"Google Calendar answered 503: Backend Error \(backendError\)"):
        await calendar.describe()
    outlook = _calendar(OutlookCalendar, settings, await _consent(oauth.provider(settings, "outlook")), mailbox="x@y")
    start = datetime(2027, 1, 4, tzinfo=UTC)
    with pytest.raises(CalendarUnavailable, match="ErrorMailboxNotFound"):
        await outlook.busy(start, start + timedelta(hours=1))
    with pytest.raises(CalendarUnavailable, match="ErrorItemNotFound"):
        await outlook.update("AAMk-nothing", _spec())


def _spec() -> EventSpec:
    return EventSpec(
        uid="u@cortex",
        sequence=2,
        summary="Haircut: Ada",
        description="notes",
        start=datetime(2027, 1, 4, 9, tzinfo=UTC),
        end=datetime(2027, 1, 4, 9, 30, tzinfo=UTC),
        time_zone="Europe/Paris",
        attendee_name="Ada",
        attendee_email="ada@example.com",
    )


def test_a_google_event_carries_the_local_time_its_zone_and_the_bookings_identity() -> None:
    body = google_event(_spec())
    assert body["start"] == {"dateTime": "2027-01-04T10:00:00+01:00", "timeZone": "Europe/Paris"}
    assert body["extendedProperties"]["private"] == {"cortexUid": "u@cortex", "cortexSequence": "2"}
    assert body["status"] == "confirmed" and body["transparency"] == "opaque"


def test_graph_times_with_seven_fractional_digits_are_read_and_other_zones_refused() -> None:
    parsed = parse_graph_time({"dateTime": "2027-01-04T09:30:00.0000000", "timeZone": "UTC"})
    assert parsed == datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
    with pytest.raises(CalendarUnavailable):
        parse_graph_time({"dateTime": "2027-01-04T09:30:00.0000000", "timeZone": "Pacific Standard Time"})

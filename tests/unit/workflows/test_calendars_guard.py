"""A CalDAV URL is the owner's, so it is hostile: it may not reach into our own network (unless the
operator allow-listed it, as the tests' stack does for 127.0.0.1), never the cloud metadata service, and
never a public server over plain http (the password would travel in the clear)."""

from __future__ import annotations

import pytest

from cortex.fetch import BadScheme, BadUrl, BlockedAddress
from cortex.settings import Settings
from cortex.workflows.calendars import CalendarUnavailable
from cortex.workflows.calendars.caldav import PlainHttpRefused, check_url, guard_url

STRICT = Settings(calendar_allow_networks=[])
LOCAL_ALLOWED = Settings(calendar_allow_networks=["127.0.0.1/32"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5232/owner/calendar/",
        "http://localhost:5232/",
        "http://2130706433/",  # 127.0.0.1 as one integer
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.1.2.3/dav/",
        "https://192.168.1.10/remote.php/dav/",
        "http://0.0.0.0/",
    ],
)
async def test_addresses_of_our_own_network_are_refused_by_default(url: str) -> None:
    with pytest.raises(BlockedAddress):
        await guard_url(STRICT, url)


async def test_an_allow_listed_loopback_is_reached_but_metadata_never() -> None:
    await guard_url(LOCAL_ALLOWED, "http://127.0.0.1:5232/owner/calendar/")
    with pytest.raises(BlockedAddress):
        await guard_url(LOCAL_ALLOWED, "http://127.0.0.2/")
    with pytest.raises(BlockedAddress):
        await guard_url(Settings(calendar_allow_networks=["169.254.0.0/16"]), "http://169.254.169.254/")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", BadScheme),
        ("gopher://example.com/", BadScheme),
        ("https://user:pass@dav.example.com/", BadUrl),
        ("not a url", BadScheme),
    ],
)
async def test_only_plain_web_urls_without_credentials_are_taken(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        await guard_url(STRICT, url)


async def test_plain_http_to_a_public_server_is_refused_and_https_is_fine() -> None:
    with pytest.raises(PlainHttpRefused):
        await guard_url(STRICT, "http://93.184.216.34/dav/")
    await guard_url(STRICT, "https://93.184.216.34/dav/")


async def test_a_connected_calendar_that_now_points_inward_is_unavailable_not_asked() -> None:
    with pytest.raises(CalendarUnavailable, match="blocked"):
        await check_url(STRICT, "http://169.254.169.254/")

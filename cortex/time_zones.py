"""IANA time zone names, checked the one way every service checks them (a visitor's zone from the
widget, a business's booking zone, a calendar's zone)."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones


@cache
def known_time_zones() -> frozenset[str]:
    """The IANA zone names this system knows (read once: listing them walks the zone database)."""
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """The name if it is an IANA time zone ("Europe/Berlin"), else ValueError saying what is wanted."""
    if name not in known_time_zones():
        raise ValueError(f"unknown time zone {name!r}: an IANA name such as Europe/Berlin")
    return name

"""Reaching URLs that users give (the crawler, URL uploads, CalDAV calendars) without letting a URL reach
into our own network (SSRF).

:class:`SafeFetcher` is the only way a service sends a request to a URL a user gave: it checks every hop
against the :class:`AddressPolicy`, pins the connection to the checked address, and caps time and size.
A client that must connect by itself (the CalDAV library) checks the URL first with `SafeFetcher.check`.
"""

from cortex.fetch.addresses import AddressPolicy, parse_host_ip
from cortex.fetch.errors import (
    BadResponse,
    BadScheme,
    BadUrl,
    BlockedAddress,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HttpStatusError,
    ResponseTooLarge,
    TooManyRedirects,
    UnsupportedContentType,
)
from cortex.fetch.fetcher import USER_AGENT, FetchResult, Resolver, SafeFetcher

__all__ = [
    "USER_AGENT",
    "AddressPolicy",
    "BadResponse",
    "BadScheme",
    "BadUrl",
    "BlockedAddress",
    "ConnectionFailed",
    "FetchError",
    "FetchResult",
    "FetchTimeout",
    "HttpStatusError",
    "Resolver",
    "ResponseTooLarge",
    "SafeFetcher",
    "TooManyRedirects",
    "UnsupportedContentType",
    "parse_host_ip",
]

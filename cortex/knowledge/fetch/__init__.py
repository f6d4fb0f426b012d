"""Fetching URLs for the crawler and for URL uploads, without letting a URL reach into our own network (SSRF).

:class:`SafeFetcher` is the only way knowledge sends a request to a URL a user gave: it checks every hop
against the :class:`AddressPolicy`, pins the connection to the checked address, and caps time and size.
"""

from cortex.knowledge.fetch.addresses import AddressPolicy, parse_host_ip
from cortex.knowledge.fetch.errors import (
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
from cortex.knowledge.fetch.fetcher import USER_AGENT, FetchResult, Resolver, SafeFetcher

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

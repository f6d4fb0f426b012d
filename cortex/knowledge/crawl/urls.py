"""The one spelling of a URL the crawl frontier keys on, and the site a URL belongs to."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

# Query parameters that only say where a visitor came from: the same page under many URLs otherwise.
# Our own short list, not courlan's tracker rules: those also drop `ref`, `source`, `session`, `uid` and
# valueless flags, so `/talks?session=12` or `/index.php?about` would merge with other pages.
TRACKING_PARAMS = frozenset(
    {"gclid", "fbclid", "msclkid", "dclid", "yclid", "gbraid", "wbraid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid"}
)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # RFC 3986 pchar plus "/" and "%" (existing escapes stay as they are)


def canonicalize_url(url: str, *, base: str | None = None) -> str | None:
    """The one spelling of a URL the frontier keys on, or None when it is not a crawlable http(s) URL.

    httpx parses it, the parser the fetcher sends with: it resolves ``base``, lower-cases and IDNA-encodes
    the host, drops the default port and dot segments. Then the fragment goes, tracking parameters (utm_*,
    gclid, fbclid…) go and the query is sorted.
    """
    raw = re.sub(r"[\t\r\n]", "", url).strip()  # browsers ignore these inside an href
    try:
        parsed = httpx.URL(base).join(raw) if base else httpx.URL(raw)
        host = parsed.raw_host.decode("ascii").rstrip(".")
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if parsed.scheme not in ("http", "https") or parsed.userinfo or not host:
        return None
    port = parsed.port
    if port is not None and not 0 <= port <= 65535:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = quote(parsed.raw_path.split(b"?", 1)[0].decode("ascii") or "/", safe=_PATH_SAFE)
    pairs = [
        (name, value)
        for name, value in parse_qsl(parsed.query.decode("ascii"), keep_blank_values=True)
        if not name.lower().startswith("utm_") and name.lower() not in TRACKING_PARAMS
    ]
    query = urlencode(sorted(pairs))
    return f"{parsed.scheme}://{netloc}{path}?{query}" if query else f"{parsed.scheme}://{netloc}{path}"


def site_of(url: str) -> str:
    """The site a canonical URL belongs to: its host[:port] without a leading ``www.``."""
    netloc = urlsplit(url).netloc
    return netloc[4:] if netloc.startswith("www.") else netloc


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a canonical URL: where its robots.txt lives."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"

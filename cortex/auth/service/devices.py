"""Known devices: a browser that has logged in to an account before keeps its way in.

The per-account login limit stops guessing spread over many addresses, but on its own it lets
anyone who knows an address lock its owner out by failing logins from a few machines. So a
successful login leaves a signed cookie naming the account (never the address) and a random
device id. A later login that presents it counts against a limit of its own, per account and
device, instead of the account's shared limit: an attacker can spend the shared limit for
strangers' machines, never the owner's own browser. (OWASP calls this a device cookie.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cortex import secrets_box
from cortex.settings import Settings

COOKIE = "cortex_device"
# Sent back only to the login route: no other request carries it.
COOKIE_PATH = "/api/auth/login"
TTL_S = 180 * 24 * 3600
# One browser may sign in to a few accounts; each keeps its entry, the oldest drops first.
MAX_ENTRIES = 5
_PURPOSE = "login-device:v1"


def issue(settings: Settings, account: str, cookie: str | None, *, now: float | None = None) -> str:
    """The cookie after a successful login to `account`: its entry renewed, the others kept."""
    expires = int(now if now is not None else time.time()) + TTL_S
    device_id = known_device(settings, account, cookie, now=now) or secrets.token_hex(8)
    body = f"{account}.{device_id}.{expires}"
    fresh = f"{body}.{_sign(settings, body)}"
    others = [entry for entry in _entries(cookie) if not entry.startswith(f"{account}.")]
    return "~".join([fresh, *others][:MAX_ENTRIES])


def known_device(settings: Settings, account: str, cookie: str | None, *, now: float | None = None) -> str | None:
    """The device id this cookie proves for `account`, or None (absent, forged, expired, another account)."""
    moment = now if now is not None else time.time()
    for entry in _entries(cookie):
        parts = entry.split(".")
        if len(parts) != 4 or parts[0] != account or not parts[2].isdigit():
            continue
        body = ".".join(parts[:3])
        if hmac.compare_digest(parts[3], _sign(settings, body)) and int(parts[2]) > moment:
            return parts[1]
    return None


def _entries(cookie: str | None) -> list[str]:
    if not cookie or len(cookie) > 1024:
        return []
    return [entry for entry in cookie.split("~") if entry][:MAX_ENTRIES]


def _sign(settings: Settings, body: str) -> str:
    digest = hmac.new(secrets_box.derived_key(settings, _PURPOSE), body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

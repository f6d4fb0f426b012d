"""Signed, expiring tokens for links mailed to people without an account: a booking's reschedule
and cancel links, a subscriber's confirmation and unsubscribe links.

A token carries its claims in the clear (base64url JSON: nothing secret goes in it) and an
HMAC-SHA256 under a key derived for its purpose (`cortex.secrets_box.derived_key`), so a token made
for one purpose (cancelling a booking) is refused for another (unsubscribing). It expires at `exp`.

    token = sign(settings, "booking-link", {"appointment": "…", "action": "cancel"}, ttl_s=30 * 86400)
    claims = verify(settings, "booking-link", token)   # raises BadSignature or Expired
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from cortex import secrets_box
from cortex.settings import Settings

# A link needs a few hundred characters; a longer token is refused before any work.
MAX_TOKEN_CHARS = 4096


class BadSignature(ValueError):
    """The token was not made here for this purpose, or it was altered."""


class Expired(ValueError):
    """The token was made here, and its time is over."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: Settings, purpose: str, body: str) -> str:
    key = secrets_box.derived_key(settings, f"signed:{purpose}")
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def sign(settings: Settings, purpose: str, claims: dict[str, Any], *, ttl_s: float, now: float | None = None) -> str:
    """A URL-safe token holding `claims` (JSON-serialisable) until `ttl_s` from now."""
    body = _b64(orjson.dumps({**claims, "exp": int((now or time.time()) + ttl_s)}))
    return f"{body}.{_mac(settings, purpose, body)}"


def verify(settings: Settings, purpose: str, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The claims of a token made by `sign` for this purpose (without `exp`)."""
    body, _, mac = token.partition(".")
    if not body or not mac or len(token) > MAX_TOKEN_CHARS:
        raise BadSignature("not a signed link")
    if not hmac.compare_digest(mac, _mac(settings, purpose, body)):
        raise BadSignature("the link's signature does not match")
    try:
        claims = orjson.loads(_unb64(body))
    except ValueError as exc:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        raise BadSignature("the link is damaged") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise BadSignature("the link is damaged")
    if claims.pop("exp") < (now or time.time()):
        raise Expired("the link has expired")
    return claims

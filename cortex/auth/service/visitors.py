"""Visitor tokens: a widget key exchanged for a short-lived token bound to one bot and one visitor.

Who the visitor is, is decided here, never by the browser (#18 finding 8):

- an anonymous visitor's id is issued by Cortex with a signed *visitor credential* (an HMAC over
  the visitor id, the widget key's id and an expiry). Presenting it at the next exchange keeps the
  visitor and renews it for `visitor_credential_ttl_days`; a bare id, a credential of another
  widget key, an altered or expired one gets a new visitor. A new visitor rather than a 4xx: a
  real visitor whose credential lapsed (or whose site changed keys) keeps a working widget, and
  someone presenting another visitor's id gets nothing of theirs either way;
- with identity verification, the business vouches for its signed-in user: `user_hash` is
  HMAC-SHA256(the key's identity secret, `user_id`). The visitor id is derived from the
  workspace and that user id (the same person on two devices is one visitor), and the token
  carries the user id as `vuid`. A key that requires it refuses an exchange without a valid hash
  (403), and verifiers refuse its unverified tokens (cortex/http/security.py);
- an owner's preview gets a preview visitor of its own (`p_…`, bound to the member and the bot),
  never an existing visitor's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson

from cortex import secrets_box
from cortex.auth import schemas, store
from cortex.auth.service.base import AuthDomain
from cortex.errors import Forbidden, NotFound
from cortex.http.security import VISITOR_AUDIENCE, VISITOR_TOKEN_TYPE, Principal, ip_key
from cortex.settings import Settings

security_log = logging.getLogger("cortex.security")

CREDENTIAL_VERSION = "vc1"
IDENTITY_SECRET_SEALED_AS = "widget-identity"


class IdentityRequired(Forbidden):
    code = "identity_required"


class IdentityNotVerified(Forbidden):
    code = "identity_not_verified"


# -- the anonymous visitor's credential -------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _credential_mac(settings: Settings, signed_part: str) -> bytes:
    return hmac.new(
        secrets_box.derived_key(settings, "visitor-credential:v1"), signed_part.encode(), hashlib.sha256
    ).digest()


def issue_credential(settings: Settings, *, visitor_id: str, widget_key_id: uuid.UUID, now: int) -> str:
    """`vc1.<claims>.<mac>`: the visitor id, the widget key it is bound to, issue time and expiry."""
    expires = now + settings.visitor_credential_ttl_days * 24 * 3600
    claims = {"v": visitor_id, "k": str(widget_key_id), "iat": now, "exp": expires}
    signed_part = f"{CREDENTIAL_VERSION}.{_b64(orjson.dumps(claims))}"
    return f"{signed_part}.{_b64(_credential_mac(settings, signed_part))}"


def read_credential(
    settings: Settings, credential: str, *, widget_key_id: uuid.UUID, now: int
) -> tuple[str | None, str]:
    """(visitor id, "ok") for a valid credential of this widget key; (None, why) otherwise."""
    parts = credential.split(".")
    if len(parts) != 3 or parts[0] != CREDENTIAL_VERSION:
        return None, "malformed"
    signed_part = f"{parts[0]}.{parts[1]}"
    try:
        mac = _unb64(parts[2])
    except ValueError:
        return None, "malformed"
    if not hmac.compare_digest(mac, _credential_mac(settings, signed_part)):
        return None, "bad signature"
    claims = orjson.loads(_unb64(parts[1]))
    if claims.get("k") != str(widget_key_id):
        return None, "another widget key"
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return None, "expired"
    visitor_id = claims.get("v")
    if not isinstance(visitor_id, str) or not visitor_id.startswith("v_"):
        return None, "malformed"
    return visitor_id, "ok"


# -- ids -----------------------------------------------------------------------------------------


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(16)


def verified_visitor_id(workspace_id: uuid.UUID, user_id: str) -> str:
    """One visitor per verified user and workspace, on every device and widget key."""
    return "u_" + hashlib.sha256(f"{workspace_id}:{user_id}".encode()).hexdigest()[:32]


def preview_visitor_id(bot_id: uuid.UUID, member_id: str) -> str:
    """The member's own preview visitor of this bot: never a real visitor's id."""
    return "p_" + hashlib.sha256(f"preview:{bot_id}:{member_id}".encode()).hexdigest()[:32]


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the business's server computes: hex HMAC-SHA256(identity secret, user id)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def from_cortex_page(origin: str | None, host: str | None, sec_fetch_site: str | None) -> bool:
    """A browser request sent by a page of Cortex's own origin (the widget frame): no other site's
    page can send an Origin or Sec-Fetch-Site saying so."""
    if sec_fetch_site == "same-origin":
        return True
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.strip().lower()


def _normal_origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


class VisitorService(AuthDomain):
    async def visitor_token(
        self,
        data: schemas.VisitorTokenIn,
        *,
        origin: str | None,
        member: Principal | None,
        ip: str,
        from_own_page: bool = False,
    ) -> schemas.VisitorTokenOut:
        """Exchange a widget key for a short-lived visitor token bound to bot and visitor.

        Deny by default: the embedding site's origin must be on the key's list. That is the
        request's Origin when the loader on the site asks, or, when Cortex's own widget frame asks
        (`from_own_page`), the site origin the frame saw. The only exception is the owner's
        preview, which needs a member token of the key's own workspace instead.
        """
        # `ip` is the real client's (client_ip: X-Forwarded-For only from the trusted proxy); IPv6 counts by /64.
        limit = self.settings.visitor_token_per_ip_per_min
        await self.limiter.check(f"visitor-token:ip:{ip_key(ip)}", limit, "IP address")
        async with self.db.acquire() as conn:
            key = await store.get_widget_key_by_public_key(conn, public_key=data.public_key)
        if key is None or key["revoked_at"] is not None:
            raise NotFound("unknown widget key")
        now = int(time.time())
        claims: dict[str, Any] = {"wk": str(key["id"])}
        credential: str | None = None
        verified_user: str | None = None
        if data.preview:
            if member is None or member.kind != "user" or member.workspace_id != key["workspace_id"]:
                raise Forbidden("preview needs a signed-in member of this bot's workspace")
            visitor_id = preview_visitor_id(key["bot_id"], member.subject)
            claims["pv"] = True
        else:
            site = data.site_origin if from_own_page and data.site_origin else origin
            if site is None or _normal_origin(site) not in key["allowed_origins"]:
                security_log.info("widget origin refused", extra={"origin": site, "key_id": str(key["id"])})
                raise Forbidden("this site is not allowed to use this widget key")
            if data.user_id is not None and data.user_hash is not None:
                verified_user = self._verified_user(key, data.user_id, data.user_hash)
                visitor_id = verified_visitor_id(key["workspace_id"], verified_user)
                claims["vuid"] = verified_user
            elif key["identity_required"]:
                raise IdentityRequired(
                    "this widget key requires identity verification: pass user_id and user_hash "
                    "(HMAC-SHA256 of user_id under the key's identity secret, computed by your server)"
                )
            else:
                visitor_id = self._anonymous_visitor(data, key["id"], now)
                credential = issue_credential(self.settings, visitor_id=visitor_id, widget_key_id=key["id"], now=now)
        claims |= {
            "iss": self.settings.jwt_issuer,
            "aud": VISITOR_AUDIENCE,
            "sub": visitor_id,
            "wid": str(key["workspace_id"]),
            "bot": str(key["bot_id"]),
            "plan": key["plan"],
            "jti": uuid.uuid4().hex,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.visitor_token_ttl_s,
        }
        async with self.db.acquire() as conn:
            signing_key = await self.tokens.signing_key(conn)
        return schemas.VisitorTokenOut(
            visitor_token=signing_key.sign(claims, token_type=VISITOR_TOKEN_TYPE),
            expires_in=self.settings.visitor_token_ttl_s,
            visitor_id=visitor_id,
            bot_id=key["bot_id"],
            visitor_credential=credential,
            user_id=verified_user,
        )

    def _anonymous_visitor(self, data: schemas.VisitorTokenIn, key_id: uuid.UUID, now: int) -> str:
        """The credential's visitor when it is valid for this key; a new visitor otherwise."""
        if data.visitor_credential:
            visitor_id, why = read_credential(self.settings, data.visitor_credential, widget_key_id=key_id, now=now)
            if visitor_id is not None:
                return visitor_id
            security_log.info("visitor credential refused", extra={"reason": why, "key_id": str(key_id)})
        return new_visitor_id()  # also for a bare `visitor_id` (old widgets): it proves nothing

    def _verified_user(self, key: Any, user_id: str, given_hash: str) -> str:
        if key["identity_secret"] is None:
            raise IdentityNotVerified(
                "identity verification is not set up for this widget key: an admin generates its identity secret first"
            )
        secret = secrets_box.open_str(self.settings, bytes(key["identity_secret"]), purpose=IDENTITY_SECRET_SEALED_AS)
        expected = user_hash(secret, user_id).encode()
        if not hmac.compare_digest(expected, given_hash.strip().lower().encode()):
            security_log.info("visitor identity refused", extra={"key_id": str(key["id"])})
            raise IdentityNotVerified("user_hash does not match user_id for this widget key")
        return user_id

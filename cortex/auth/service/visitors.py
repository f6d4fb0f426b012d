"""Visitor tokens: a widget key exchanged for a short-lived token bound to one bot and one visitor."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import Any

from cortex.auth import schemas, store
from cortex.auth.service.base import AuthDomain
from cortex.errors import Forbidden, NotFound
from cortex.http.security import VISITOR_AUDIENCE, VISITOR_TOKEN_TYPE, Principal, ip_key

security_log = logging.getLogger("cortex.security")


class VisitorService(AuthDomain):
    async def visitor_token(
        self, data: schemas.VisitorTokenIn, *, origin: str | None, member: Principal | None, ip: str
    ) -> schemas.VisitorTokenOut:
        """Exchange a widget key for a short-lived visitor token bound to bot and visitor.

        Deny by default: the request's Origin must be on the key's list. The only exception is
        the owner's preview, which needs a member token of the key's own workspace instead.
        """
        # `ip` is the real client's (client_ip: X-Forwarded-For only from the trusted proxy); IPv6 counts by /64.
        limit = self.settings.visitor_token_per_ip_per_min
        await self.limiter.check(f"visitor-token:ip:{ip_key(ip)}", limit, "IP address")
        async with self.db.acquire() as conn:
            key = await store.get_widget_key_by_public_key(conn, public_key=data.public_key)
        if key is None or key["revoked_at"] is not None:
            raise NotFound("unknown widget key")
        if data.preview:
            if member is None or member.kind != "user" or member.workspace_id != key["workspace_id"]:
                raise Forbidden("preview needs a signed-in member of this bot's workspace")
        elif origin is None or origin.rstrip("/").lower() not in key["allowed_origins"]:
            security_log.info("widget origin refused", extra={"origin": origin, "key_id": str(key["id"])})
            raise Forbidden("this site is not allowed to use this widget key")
        visitor_id = data.visitor_id or "v_" + secrets.token_urlsafe(16)
        now = int(time.time())
        claims: dict[str, Any] = {
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
        )

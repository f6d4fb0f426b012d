"""Authentication and authorisation for every application, verified locally.

Access tokens are JWTs signed by the auth service (EdDSA, with `kid`). Every application
verifies them with the auth service's public keys, which auth publishes to Redis
(``cortex:auth:jwks``) and which each replica caches in memory — so a request costs no call to
auth, only one short Redis lookup of the session denylist. Verification follows RFC 8725: one
allowed algorithm, the token type checked, and `iss`, `aud`, `exp`, `nbf` required.

Every route declares a policy: ``Depends(public)`` or ``Depends(require("admin"))`` (or the
visitor/API-key variants). A test fails for any route without one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jwt
import orjson
import redis.asyncio as aioredis
from fastapi import Depends, Request, Response

from cortex.errors import Forbidden, RateLimited, Unauthorized
from cortex.http.ratelimit import Decision, RateLimiter
from cortex.settings import Settings

Role = Literal["owner", "admin", "agent", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "agent": 2, "admin": 3, "owner": 4}
# What an API key may be granted: the abilities of the roles below owner.
API_KEY_PERMISSIONS: dict[str, Role] = {"read": "viewer", "reply": "agent", "manage": "admin"}

ALGORITHM = "EdDSA"  # the only algorithm accepted: no `none`, no HMAC confusion
ACCESS_TOKEN_TYPE = "at+jwt"
VISITOR_TOKEN_TYPE = "visitor+jwt"
MEMBER_AUDIENCE = "cortex"
VISITOR_AUDIENCE = "cortex-widget"

JWKS_KEY = "cortex:auth:jwks"
API_KEY_RECORD = "cortex:auth:apikey:"
API_KEY_LAST_USED = "cortex:auth:apikey-last-used"
REVOKED_SESSION = "cortex:auth:revoked:sid:"
# Present while a widget key requires verified visitors (auth writes it; #18 finding 8): a visitor
# token of that key without the verified-user claim is refused, even one minted before.
IDENTITY_REQUIRED = "cortex:auth:identity-required:"
# Public keys are re-read from Redis at most this often; an unknown kid forces a re-read, but
# no more than once per _JWKS_MISS_INTERVAL_S so forged kids cannot hammer Redis.
_JWKS_TTL_S = 30.0
_JWKS_MISS_INTERVAL_S = 2.0
# Tolerated clock skew between the signer and a verifier.
LEEWAY_S = 5
# Verified tokens kept per replica: 10k live sessions' tokens at ~1 KB each is ~10 MB.
_VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: a workspace member, an API key or a widget visitor."""

    kind: Literal["user", "api_key", "visitor"]
    workspace_id: uuid.UUID
    subject: str
    role: Role | None = None
    plan: str = "free"
    session_id: uuid.UUID | None = None
    bot_id: uuid.UUID | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    expires_at: int | None = None
    # Visitors only: the widget key that issued the token, the business's user id when it vouched
    # for the visitor (identity verification), and whether it is a member's preview.
    widget_key_id: str | None = None
    verified_user_id: str | None = None
    preview: bool = False

    @property
    def user_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.subject) if self.kind == "user" else None

    def has_role(self, role: Role) -> bool:
        """Members by rank; API keys by the permissions they were granted (never owner)."""
        if self.kind == "user":
            return ROLE_RANK[self.role or "viewer"] >= ROLE_RANK[role]
        if self.kind == "api_key":
            return any(ROLE_RANK[API_KEY_PERMISSIONS[p]] >= ROLE_RANK[role] for p in self.permissions)
        return False


def hash_secret(secret: str) -> bytes:
    """Hash of a high-entropy secret (API key, refresh token): sha256 is enough at 256 bits."""
    return hashlib.sha256(secret.encode()).digest()


class Authenticator:
    """Verifies bearer credentials for one replica (JWKS cached, denylist checked in Redis)."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.limiter = RateLimiter(redis)
        self._keys: dict[str, Any] = {}
        # Verified tokens (bytes-identical) skip signature checks until they expire; revocation
        # and rate limits are still checked on every request by `admit`.
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self._keys_loaded_at = 0.0
        self._last_miss_reload = 0.0

    async def _load_keys(self) -> None:
        raw = await self.redis.get(JWKS_KEY)
        keys: dict[str, Any] = {}
        if raw:
            for jwk in orjson.loads(raw).get("keys", []):
                if jwk.get("alg") == ALGORITHM and jwk.get("kty") == "OKP":
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        if set(keys) != set(self._keys):
            self._verified.clear()  # a withdrawn key must take its tokens with it
        self._keys = keys
        self._keys_loaded_at = time.monotonic()

    async def _key_for(self, kid: str) -> Any:
        now = time.monotonic()
        if now - self._keys_loaded_at > _JWKS_TTL_S:
            await self._load_keys()
        if kid not in self._keys and now - self._last_miss_reload > _JWKS_MISS_INTERVAL_S:
            self._last_miss_reload = now
            await self._load_keys()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        return key

    async def decode(self, token: str, *, token_type: str, audience: str) -> dict[str, Any]:
        """Verify signature, type and registered claims; raise Unauthorized on any doubt."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm not allowed")
        if header.get("typ") != token_type:
            raise Unauthorized("wrong token type")
        key = await self._key_for(str(header.get("kid", "")))
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.settings.jwt_issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc

    async def authenticate(self, authorization: str | None) -> Principal:
        """Identify the caller and admit them (session not revoked, within rate limits)."""
        principal = await self.identify(authorization)
        await self.admit(principal)
        return principal

    async def identify(self, authorization: str | None) -> Principal:
        """Verify the credential (no revocation or rate-limit check: see `admit`)."""
        if not authorization:
            raise Unauthorized("missing Authorization header", headers={"WWW-Authenticate": "Bearer"})
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("use Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
        if credential.startswith("ck_"):
            return await self._api_key(credential)
        if time.monotonic() - self._keys_loaded_at > _JWKS_TTL_S:
            await self._load_keys()  # also when every request hits the cache: withdrawn keys drop
        cached = self._verified.get(credential)
        if cached is not None and cached.expires_at is not None and cached.expires_at + LEEWAY_S > time.time():
            self._verified.move_to_end(credential)
            return cached
        principal = await self._verify_jwt(credential)
        self._verified[credential] = principal
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify_jwt(self, credential: str) -> Principal:
        header_type = _peek_type(credential)
        if header_type == VISITOR_TOKEN_TYPE:
            claims = await self.decode(credential, token_type=VISITOR_TOKEN_TYPE, audience=VISITOR_AUDIENCE)
            return Principal(
                kind="visitor",
                workspace_id=uuid.UUID(claims["wid"]),
                subject=claims["sub"],
                plan=claims.get("plan", "free"),
                bot_id=uuid.UUID(claims["bot"]),
                expires_at=claims["exp"],
                widget_key_id=claims.get("wk"),
                verified_user_id=claims.get("vuid"),
                preview=bool(claims.get("pv", False)),
            )
        claims = await self.decode(credential, token_type=ACCESS_TOKEN_TYPE, audience=MEMBER_AUDIENCE)
        return Principal(
            kind="user",
            workspace_id=uuid.UUID(claims["wid"]),
            subject=claims["sub"],
            role=claims["role"],
            plan=claims.get("plan", "free"),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=claims["exp"],
        )

    async def _api_key(self, credential: str) -> Principal:
        # ck_<prefix>_<secret>: the prefix finds the record, the secret is compared by hash.
        parts = credential.split("_")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise Unauthorized("malformed API key")
        raw = await self.redis.get(API_KEY_RECORD + parts[1])
        if not raw:
            raise Unauthorized("unknown or revoked API key")
        record = orjson.loads(raw)
        if not hmac.compare_digest(bytes.fromhex(record["secret_hash"]), hash_secret(credential)):
            raise Unauthorized("unknown or revoked API key")
        return Principal(
            kind="api_key",
            workspace_id=uuid.UUID(record["workspace_id"]),
            subject=record["id"],
            plan=record.get("plan", "free"),
            permissions=frozenset(record["permissions"]),
        )

    async def admit(self, principal: Principal) -> Decision:
        """One Redis round trip: the session denylist and the principal's limits.

        Visitors never draw from the workspace's bucket: each has their own, and a bot's visitors
        share the bot's, so a flood through a public widget key cannot lock the team out.
        """
        limits = self.settings.rate_limits.get(principal.plan) or self.settings.rate_limits["free"]
        if principal.kind == "visitor":
            checks = [
                (f"visitor:{principal.bot_id}:{principal.subject}", limits["visitor"], "visitor"),
                (f"bot:{principal.bot_id}", limits.get("bot", limits["workspace"]), "bot's visitors"),
            ]
        else:
            checks = [(f"ws:{principal.workspace_id}", limits["workspace"], "workspace")]
        if principal.kind == "api_key":
            checks.insert(0, (f"key:{principal.subject}", limits["api_key"], "API key"))
        revoked_key = REVOKED_SESSION + str(principal.session_id) if principal.session_id else None
        if _needs_identity_check(principal):
            revoked_key = IDENTITY_REQUIRED + str(principal.widget_key_id)  # same round trip
        last_used = (API_KEY_LAST_USED, principal.subject) if principal.kind == "api_key" else None
        revoked, decision, what = await self.limiter.admit(revoked_key, checks, last_used=last_used)
        if revoked and principal.kind == "visitor":
            # 401, not 403: the widget exchanges its key again, and a page that passes the visitor's
            # user_hash gets a verified token; a page that does not is refused there (403).
            raise Unauthorized(
                "this widget now requires a verified visitor: get a new visitor token with user_id and user_hash"
            )
        if revoked:
            raise Unauthorized("session has been revoked")
        if not decision.allowed:
            raise RateLimited(
                f"too many requests for this {what}; retry in {decision.headers()['Retry-After']} s",
                headers=decision.headers(),
            )
        return decision


def _needs_identity_check(principal: Principal) -> bool:
    """An unverified visitor token of a widget key (not a member's preview): its key may have
    required verified visitors since it was minted."""
    return (
        principal.kind == "visitor"
        and principal.verified_user_id is None
        and not principal.preview
        and principal.widget_key_id is not None
    )


def _peek_type(token: str) -> str | None:
    try:
        return jwt.get_unverified_header(token).get("typ")
    except jwt.PyJWTError:
        return None


def ip_key(ip: str) -> str:
    """The client an IP limit counts: the address, or for IPv6 its /64 (one customer's network,
    in which a client can pick any of 2^64 addresses)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_ip(request: Request, settings: Settings) -> str:
    """The caller's IP address, for per-IP limits and the audit log.

    X-Forwarded-For is believed only when the connection comes from a trusted proxy
    (`trusted_proxies`: Serve's HAProxy, which appends the address that connected to it), and then
    only the entries the trusted proxies appended: HAProxy's own and one per proxy in front of it
    (`trusted_proxy_count`). Anything further left was written by the client and is ignored.
    """
    peer = request.client.host if request.client else "unknown"
    if not _within(peer, settings.trusted_proxies):
        return peer
    # HAProxy adds its entry as a header line of its own: read every line, in order.
    hops = [hop.strip() for line in request.headers.getlist("x-forwarded-for") for hop in line.split(",")]
    hops = [hop for hop in hops if hop]
    if not hops:
        return peer
    appended = settings.trusted_proxy_count + 1
    candidate = hops[-appended] if len(hops) >= appended else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def _within(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _authenticator(request: Request) -> Authenticator:
    return request.app.state.resources.authenticator


async def current_principal(request: Request, response: Response) -> Principal:
    """The authenticated caller, rate-limited; cached on the request."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    authenticator = _authenticator(request)
    principal = await authenticator.identify(request.headers.get("authorization"))
    decision = await authenticator.admit(principal)
    response.headers.update(decision.headers())
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _policy(dependency: Callable[..., Awaitable[Any]], policy: str) -> Callable[..., Awaitable[Any]]:
    dependency.cortex_policy = policy  # type: ignore[attr-defined]
    return dependency


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A member (or API key) of at least `role` in the token's workspace."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind == "visitor":
            raise Forbidden("visitors may not use this endpoint")
        if not principal.has_role(role):
            raise Forbidden(f"requires the {role} role")
        return principal

    return _policy(dependency, f"role:{role}")


def require_user(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A signed-in member of at least `role` (not an API key): account and key management."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind != "user":
            raise Forbidden("only a signed-in member may do this")
        if not principal.has_role(role):
            raise Forbidden(f"requires the {role} role")
        return principal

    return _policy(dependency, f"user:{role}")


def require_visitor_or(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A widget visitor, or a member/API key of at least `role` (chat endpoints).

    Reading takes `viewer`; starting a conversation takes `agent` (an API key's `reply`), so a
    viewer or a `read` key never writes.
    """

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind != "visitor" and not principal.has_role(role):
            raise Forbidden(f"requires a visitor token or the {role} role")
        return principal

    return _policy(dependency, f"visitor-or:{role}")


def require_visitor() -> Callable[..., Awaitable[Principal]]:
    """Only a widget visitor: what the visitor alone says (a lead, a rating, asking for a person).

    Members read a visitor's conversation and answer it through the handoff routes; they never
    write in the visitor's name.
    """

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind != "visitor":
            raise Forbidden("only the visitor may do this (members answer through the handoff routes)")
        return principal

    return _policy(dependency, "visitor")


async def _public() -> None:
    """No authentication: health checks, login, registration, JWKS."""


public = _policy(_public, "public")


def policy_of(dependency: Any) -> str | None:
    return getattr(dependency, "cortex_policy", None)

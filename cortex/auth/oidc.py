"""Log in with Google or any OpenID Connect issuer (authorization code flow with PKCE).

State, nonce and the PKCE verifier are kept in Redis for ten minutes and used once. The ID
token is verified against the issuer's published keys, asymmetric algorithms only, with
`iss`, `aud`, `exp` and the nonce checked.

Every login is bound to the browser that started it: `/login` sets a random HttpOnly cookie
(`cortex_oidc_binding`, path /api/auth/oidc) and keeps its hash with the state, and the callback
refuses a browser without the same cookie, so nobody can finish their own login in someone
else's browser (login CSRF). Tokens never travel in a URL: the callback stores the pair under a
one-time code (60 s, bound to the same cookie) and sends the dashboard `#login_code=…`, which it
trades once at POST /api/auth/oidc/exchange.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jwt
import orjson
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from cortex.auth.schemas import TokenPair
from cortex.auth.service import AccountService
from cortex.errors import BadRequest, CortexError, NotFound, Unauthorized, Unavailable
from cortex.http.app import ServiceResources
from cortex.http.responses import FastJSONResponse
from cortex.http.security import client_ip, hash_secret, public

router = APIRouter(prefix="/oidc", tags=["oidc"])

GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
STATE_KEY = "cortex:oidc:state:"
STATE_TTL_S = 600  # the user has ten minutes at the provider's login page
CODE_KEY = "cortex:oidc:code:"
# The dashboard trades the code as soon as it loads; a minute covers a slow page, and a code
# that leaked (a screenshot, a shared URL) is useless afterwards, and useless in any other browser.
CODE_TTL_S = 60
BINDING_COOKIE = "cortex_oidc_binding"
BINDING_COOKIE_PATH = "/api/auth/oidc"  # sent to the login, callback and exchange only
# Only asymmetric signatures: an HMAC-signed ID token would be keyed with our client secret.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
_METADATA_TTL_S = 3600
_metadata_cache: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}


async def _resources(request: Request) -> ServiceResources:
    return request.app.state.resources


Resources = Annotated[ServiceResources, Depends(_resources)]


def _allow_loopback_http(resources: ServiceResources, url: str) -> None:
    """Issuers speak https; an http issuer on loopback is allowed only when configured (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if resources.settings.oidc_allow_http_loopback and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return
    raise NotFound("OIDC providers must use https")


def _provider_config(resources: ServiceResources, provider: str) -> dict[str, str]:
    config = resources.settings.oidc_providers.get(provider)
    if not config:
        raise NotFound(f"no OIDC provider named {provider!r} is configured")
    discovery = config.get("discovery_url") or (GOOGLE_DISCOVERY if provider == "google" else "")
    if not discovery or not config.get("client_id"):
        raise NotFound(f"OIDC provider {provider!r} needs discovery_url and client_id")
    _allow_loopback_http(resources, discovery)
    return {**config, "discovery_url": discovery}


async def _metadata(
    resources: ServiceResources, discovery_url: str, *, refresh: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issuer's discovery document and its JWKS, cached for an hour; `refresh` fetches them again
    (an ID token names a key the cached JWKS lacks: the issuer rotated its keys). Only the issuer's
    own token endpoint hands us ID tokens, for a code it issued, so nobody else can make us refetch."""
    cached = _metadata_cache.get(discovery_url)
    if cached and not refresh and time.monotonic() - cached[0] < _METADATA_TTL_S:
        return cached[1], cached[2]
    assert resources.http is not None
    try:
        metadata = (await resources.http.get(discovery_url)).raise_for_status().json()
        jwks = (await resources.http.get(metadata["jwks_uri"])).raise_for_status().json()
    except Exception as exc:  # noqa: BLE001 - any failure means the provider is unusable now
        raise Unavailable(f"the identity provider did not answer: {type(exc).__name__}") from exc
    _metadata_cache[discovery_url] = (time.monotonic(), metadata, jwks)
    return metadata, jwks


def _callback_url(request: Request, provider: str) -> str:
    # From settings, never from the Host header: a spoofed Host must not steer the code.
    return f"{request.app.state.resources.settings.resolved_public_url()}/api/auth/oidc/{provider}/callback"


def _safe_redirect(target: str | None) -> str | None:
    """Only a path on our own site: never an open redirect."""
    if not target:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        raise BadRequest("redirect_to must be a path on this site, like /dashboard")
    return target


@router.get("/providers", dependencies=[Depends(public)])
async def providers(resources: Resources) -> dict[str, list[str]]:
    """The OIDC providers this installation offers on its login page."""
    return {"providers": sorted(resources.settings.oidc_providers)}


@router.get("/{provider}/login", dependencies=[Depends(public)], status_code=302)
async def oidc_login(
    provider: str,
    request: Request,
    resources: Resources,
    redirect_to: Annotated[str | None, Query(max_length=500)] = None,
) -> RedirectResponse:
    """Send the browser to the provider, with state, nonce and a PKCE challenge."""
    config = _provider_config(resources, provider)
    metadata, _ = await _metadata(resources, config["discovery_url"])
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    binding = secrets.token_urlsafe(32)
    assert resources.redis is not None
    await resources.redis.set(
        STATE_KEY + state,
        orjson.dumps(
            {
                "provider": provider,
                "nonce": nonce,
                "verifier": verifier,
                "redirect_to": _safe_redirect(redirect_to),
                "binding": _binding_hash(binding),
            }
        ),
        ex=STATE_TTL_S,
    )
    client = AsyncOAuth2Client(
        client_id=config["client_id"],
        redirect_uri=_callback_url(request, provider),
        scope="openid email profile",
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
    )
    response = RedirectResponse(url, status_code=302)
    # A new secret per login: a second login started meanwhile in another tab wins, the first
    # one is told to start again.
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=STATE_TTL_S + CODE_TTL_S,
        path=BINDING_COOKIE_PATH,
        secure=_https(resources),
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to the callback
    )
    return response


@router.get("/{provider}/callback", dependencies=[Depends(public)], response_model=None)
async def oidc_callback(
    provider: str,
    request: Request,
    resources: Resources,
    state: Annotated[str, Query(min_length=8, max_length=200)],
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Finish the login in the browser that started it: exchange the code, verify the ID token,
    sign in or sign up, and hand the dashboard a one-time code (a script without `redirect_to`
    gets the token pair as JSON)."""
    assert resources.redis is not None
    raw = await resources.redis.getdel(STATE_KEY + state)
    if raw is None:
        raise Unauthorized("login attempt expired or already used; start again")
    saved = orjson.loads(raw)
    try:
        return await _finish_login(provider, request, resources, saved, code=code, error=error)
    except CortexError as exc:
        if not saved.get("redirect_to"):
            raise
        # The browser came from the dashboard: send it back there with the reason, not to a JSON page.
        return RedirectResponse(f"{saved['redirect_to']}#{urlencode({'error': exc.message})}", status_code=302)


async def _finish_login(
    provider: str, request: Request, resources: ServiceResources, saved: dict, *, code: str | None, error: str | None
) -> Any:
    if saved["provider"] != provider:
        raise Unauthorized("login state does not belong to this provider")
    # Before the provider's code is even redeemed: a login someone started elsewhere (their own
    # account, fed to this browser through a link) must not sign this browser in.
    if not _same_browser(request, saved.get("binding")):
        raise Unauthorized(
            "this login was started in another browser, or this browser blocked its cookie; "
            "start again from the login page"
        )
    if error or not code:
        raise Unauthorized(f"the identity provider refused the login: {error or 'no code'}")
    config = _provider_config(resources, provider)
    metadata, jwks = await _metadata(resources, config["discovery_url"])
    client = AsyncOAuth2Client(
        client_id=config["client_id"],
        client_secret=config.get("client_secret"),
        redirect_uri=_callback_url(request, provider),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    )
    try:
        token = await client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=saved["verifier"])
    except Exception as exc:  # noqa: BLE001 - the provider said no, or did not answer
        raise Unauthorized(f"the identity provider refused the code: {type(exc).__name__}") from exc
    finally:
        await client.aclose()
    id_token = token.get("id_token")
    if _names_unknown_key(id_token, jwks):
        metadata, jwks = await _metadata(resources, config["discovery_url"], refresh=True)
    claims = _verify_id_token(
        id_token, jwks, issuer=metadata["issuer"], client_id=config["client_id"], nonce=saved["nonce"]
    )
    assert resources.db is not None and resources.redis is not None
    accounts = AccountService(db=resources.db, redis=resources.redis, settings=resources.settings)
    pair = await accounts.login_with_identity(
        provider=provider,
        subject=str(claims["sub"]),
        email=str(claims.get("email", "")),
        email_verified=bool(claims.get("email_verified")),
        name=str(claims.get("name", "")),
        ip=client_ip(request, resources.settings),
        user_agent=request.headers.get("user-agent", ""),
    )
    if not saved.get("redirect_to"):
        # A script (curl with a cookie jar): it proved with the cookie that it started this login.
        response = FastJSONResponse(pair.model_dump(mode="json"))
        _clear_binding(response, resources)
        return response
    login_code = secrets.token_urlsafe(32)
    await resources.redis.set(
        CODE_KEY + _binding_hash(login_code),
        orjson.dumps({"pair": pair.model_dump(mode="json"), "binding": saved["binding"]}),
        ex=CODE_TTL_S,
    )
    return RedirectResponse(f"{saved['redirect_to']}#{urlencode({'login_code': login_code})}", status_code=302)


class LoginCode(BaseModel):
    code: str = Field(min_length=16, max_length=200, description="the one-time `login_code` the callback sent")


@router.post("/exchange", dependencies=[Depends(public)])
async def exchange_login_code(body: LoginCode, request: Request, response: Response, resources: Resources) -> TokenPair:
    """Trade the callback's one-time code for the token pair, once, in the browser that logged in."""
    assert resources.redis is not None
    raw = await resources.redis.getdel(CODE_KEY + _binding_hash(body.code))
    if raw is None:
        raise Unauthorized("this login code expired or was already used; log in again")
    saved = orjson.loads(raw)
    if not _same_browser(request, saved["binding"]):
        raise Unauthorized("this login code belongs to a login started in another browser; log in again")
    _clear_binding(response, resources)
    return TokenPair.model_validate(saved["pair"])


def _binding_hash(secret: str) -> str:
    return hash_secret(secret).hex()


def _same_browser(request: Request, binding: str | None) -> bool:
    """True when the request carries the cookie whose hash the login saved."""
    cookie = request.cookies.get(BINDING_COOKIE)
    if not cookie or not binding:
        return False
    return secrets.compare_digest(_binding_hash(cookie), binding)


def _https(resources: ServiceResources) -> bool:
    return resources.settings.resolved_public_url().startswith("https://")


def _clear_binding(response: Response, resources: ServiceResources) -> None:
    response.delete_cookie(
        BINDING_COOKIE, path=BINDING_COOKIE_PATH, secure=_https(resources), httponly=True, samesite="lax"
    )


def _names_unknown_key(id_token: str | None, jwks: dict[str, Any]) -> bool:
    """The token's header names a key id the JWKS does not hold (unreadable tokens are left to the check)."""
    try:
        kid = jwt.get_unverified_header(id_token).get("kid") if id_token else None
    except jwt.PyJWTError:
        return False
    return bool(kid) and kid not in {key.get("kid") for key in jwks.get("keys", []) if isinstance(key, dict)}


def _verify_id_token(
    id_token: str | None, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    if not id_token:
        raise Unauthorized("the identity provider returned no ID token")
    try:
        header = jwt.get_unverified_header(id_token)
        if header.get("alg") not in ID_TOKEN_ALGORITHMS:
            raise Unauthorized("ID token algorithm not allowed")
        keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
        key = keys.get(header.get("kid")) if header.get("kid") else next(iter(keys.values()), None)
        if key is None:
            raise Unauthorized("ID token signed with an unknown key")
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[header["alg"]],
            audience=client_id,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid ID token: {exc}") from exc
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise Unauthorized("ID token nonce does not match this login")
    if not claims.get("email"):
        raise Unauthorized("the identity provider did not share an email address")
    return claims

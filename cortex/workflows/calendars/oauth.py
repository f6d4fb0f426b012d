"""OAuth 2.0 for calendars a provider hosts (Google Calendar, Outlook): the authorization-code grant that
connects one, and the access token each call needs, refreshed with the stored refresh token.

The tokens live in the calendar's row, sealed (`cortex.secrets_box`); a refreshed access token (and a
rotated refresh token, as Microsoft sends) is sealed back by the caller of the calendar. The provider's
endpoints are settings, so the tests and benchmarks point them at local stand-ins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from cortex.settings import APPLICATIONS, Settings
from cortex.workflows.calendars.base import CalendarUnavailable, ConnectedCalendar

OAuthKind = Literal["google", "outlook"]

# Refresh a minute before the provider's expiry: a token that expires in flight costs a 401 and a retry.
_EXPIRY_MARGIN_S = 60.0
# The provider's own error text, shown to the owner, is cut here.
_MAX_MESSAGE_CHARS = 300


# One client per event loop (a replica has one): making an httpx client costs ~30 ms of CPU (its TLS
# context), more than the call itself, and a slot search asks every calendar.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def shared_http() -> httpx.AsyncClient:
    """This event loop's HTTP client for the providers' APIs (no proxy from the environment)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(trust_env=False)
        _CLIENTS[loop] = client
    return client


class OAuthNotConfigured(Exception):
    """The operator set no OAuth client for this provider (CORTEX_GOOGLE_CLIENT_ID, CORTEX_MS_CLIENT_ID…)."""


@dataclass(frozen=True)
class Provider:
    kind: OAuthKind
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    scopes: str
    #: Extra authorize parameters: Google issues a refresh token only with access_type=offline.
    extra: dict[str, str] = field(default_factory=dict)


def provider(settings: Settings, kind: OAuthKind) -> Provider:
    """The OAuth client the operator configured for `kind`."""
    if kind == "google":
        if not settings.google_client_id or not settings.google_client_secret:
            raise OAuthNotConfigured("Google Calendar is not set up: CORTEX_GOOGLE_CLIENT_ID and _SECRET are unset")
        return Provider(
            kind="google",
            authorize_url=settings.google_oauth_url,
            token_url=settings.google_token_url,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            # Events to write bookings, freebusy to read busy time: nothing else of the account.
            scopes="https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy",
            extra={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
        )
    if not settings.ms_client_id or not settings.ms_client_secret:
        raise OAuthNotConfigured("Outlook is not set up: CORTEX_MS_CLIENT_ID and CORTEX_MS_CLIENT_SECRET are unset")
    base = f"{settings.ms_login_url.rstrip('/')}/{settings.ms_tenant}/oauth2/v2.0"
    return Provider(
        kind="outlook",
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        client_id=settings.ms_client_id,
        client_secret=settings.ms_client_secret,
        # offline_access: a refresh token; User.Read: the mailbox address getSchedule asks about.
        scopes="offline_access User.Read Calendars.ReadWrite",
        extra={"response_mode": "query", "prompt": "select_account"},
    )


def redirect_uri(settings: Settings) -> str:
    """Where the provider sends the browser back: the callback route (registered with the provider)."""
    return f"{settings.resolved_public_url()}{APPLICATIONS['workflows']}/calendars/oauth/callback"


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (kept by us) and its S256 challenge (sent with the authorize request)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(provider: Provider, *, state: str, redirect_to: str, code_challenge: str) -> str:
    """The provider's consent page for this connection (PKCE S256: a stolen code is useless alone)."""
    query = {
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "client_id": provider.client_id,
        "redirect_uri": redirect_to,
        "response_type": "code",
        "scope": provider.scopes,
        "state": state,
        **provider.extra,
    }
    separator = "&" if "?" in provider.authorize_url else "?"
    return provider.authorize_url + separator + urlencode(query)


def _token_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"the sign-in service answered {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = str(body.get("error_description") or "").split("\r\n")[0][:_MAX_MESSAGE_CHARS]
        if body["error"] == "invalid_grant":
            return "the calendar's access was revoked or has expired: connect it again" + (
                f" ({description})" if description else ""
            )
        return f"{body['error']}: {description}" if description else body["error"]
    return f"the sign-in service answered {response.status_code}"


async def _token_request(
    http: httpx.AsyncClient | None, provider: Provider, form: dict[str, str], *, timeout_s: float
) -> dict[str, Any]:
    data = {**form, "client_id": provider.client_id, "client_secret": provider.client_secret}
    try:
        response = await (http or shared_http()).post(provider.token_url, data=data, timeout=timeout_s)
    except httpx.TimeoutException:
        raise CalendarUnavailable("the sign-in service did not answer in time") from None
    except httpx.HTTPError as exc:
        raise CalendarUnavailable(f"the sign-in service cannot be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise CalendarUnavailable(_token_error(response))
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise CalendarUnavailable("the sign-in service answered without an access token")
    return body


def _credentials(body: dict[str, Any], *, previous_refresh_token: str | None = None) -> dict[str, Any]:
    expires_in = float(body.get("expires_in") or 3600)
    return {
        "access_token": body["access_token"],
        # Google sends the refresh token only with the first exchange; Microsoft rotates it.
        "refresh_token": body.get("refresh_token") or previous_refresh_token,
        "expires_at": time.time() + expires_in,
    }


async def exchange_code(
    http: httpx.AsyncClient | None,
    provider: Provider,
    *,
    code: str,
    redirect_to: str,
    code_verifier: str,
    timeout_s: float,
) -> dict[str, Any]:
    """Trade the authorization code for tokens: the credentials to seal."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_to,
        "code_verifier": code_verifier,
    }
    body = await _token_request(http, provider, form, timeout_s=timeout_s)
    credentials = _credentials(body)
    if not credentials["refresh_token"]:
        raise CalendarUnavailable("the provider gave no refresh token: remove Cortex's access there and connect again")
    return credentials


async def refresh(
    http: httpx.AsyncClient | None, provider: Provider, *, refresh_token: str, timeout_s: float
) -> dict[str, Any]:
    """New credentials from the refresh token."""
    body = await _token_request(
        http, provider, {"grant_type": "refresh_token", "refresh_token": refresh_token}, timeout_s=timeout_s
    )
    return _credentials(body, previous_refresh_token=refresh_token)


class OAuthCalendar(ConnectedCalendar):
    """A calendar behind a provider's REST API: every call carries a fresh access token, and a 401 (the
    provider expired or revoked it early) is answered by one refresh and one retry."""

    oauth_kind: OAuthKind = "google"

    def __init__(self, *, http: httpx.AsyncClient | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = http
        self._refreshing = asyncio.Lock()

    def error_message(self, response: httpx.Response) -> str:
        """The provider's error text for the owner; subclasses read their provider's error shape."""
        return f"the calendar service answered {response.status_code}"

    async def _refresh(self, stale_token: str | None) -> str:
        async with self._refreshing:
            if self.credentials.get("access_token") != stale_token and self._fresh():
                return str(self.credentials["access_token"])  # another call refreshed meanwhile
            refresh_token = self.credentials.get("refresh_token")
            if not refresh_token:
                raise CalendarUnavailable("the calendar has no refresh token: connect it again")
            try:
                client = provider(self.settings, self.oauth_kind)
            except OAuthNotConfigured as exc:
                raise CalendarUnavailable(str(exc)) from None
            self.credentials = await refresh(
                self.http, client, refresh_token=str(refresh_token), timeout_s=self.timeout_s
            )
            self.credentials_changed = True
            return str(self.credentials["access_token"])

    def _fresh(self) -> bool:
        return bool(self.credentials.get("access_token")) and (
            float(self.credentials.get("expires_at") or 0) - _EXPIRY_MARGIN_S > time.time()
        )

    async def _send(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            client = self.http or shared_http()
            return await client.request(method, url, headers=headers, timeout=self.timeout_s, **kwargs)
        except httpx.TimeoutException:
            raise CalendarUnavailable("the calendar service did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CalendarUnavailable(f"the calendar service cannot be reached ({type(exc).__name__})") from None

    async def api(self, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """Call the provider's API; CalendarUnavailable unless the status is in `ok`."""
        token = str(self.credentials.get("access_token") or "")
        if not self._fresh():
            token = await self._refresh(token)
        response = await self._send(method, url, token, **kwargs)
        if response.status_code == 401:
            token = await self._refresh(token)
            response = await self._send(method, url, token, **kwargs)
        if response.status_code not in ok:
            raise CalendarUnavailable(self.error_message(response))
        return response

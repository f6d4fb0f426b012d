"""Log in with OpenID Connect, end to end against a real (local) authlib provider.

Each `browser` is its own cookie jar: the login is bound to the browser that started it (an
HttpOnly cookie), and tokens reach the dashboard only through a one-time code that browser trades.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.stack_fixtures import RunningStack

from .oidc_provider import Provider, User

BINDING_COOKIE = "cortex_oidc_binding"  # the login's browser binding (HttpOnly: no page script sees it)


@pytest.fixture
async def browser(running_stack: RunningStack) -> AsyncIterator[httpx.AsyncClient]:
    """One person's browser: its own cookies."""
    async with httpx.AsyncClient(base_url=running_stack.url, timeout=30) as client:
        yield client


@pytest.fixture
async def other_browser(running_stack: RunningStack) -> AsyncIterator[httpx.AsyncClient]:
    """Somebody else's browser (an attacker's), with cookies of its own."""
    async with httpx.AsyncClient(base_url=running_stack.url, timeout=30) as client:
        yield client


async def _start(browser: httpx.AsyncClient, redirect_to: str | None = "/dashboard") -> str:
    """Start a login in `browser` and play the user who allows it: the callback path to open."""
    params = {"redirect_to": redirect_to} if redirect_to else {}
    start = await browser.get("/api/auth/oidc/local/login", params=params)
    assert start.status_code == 302, start.text
    authorize_url = start.headers["location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0] and query["scope"] == ["openid email profile"]
    async with httpx.AsyncClient() as at_the_provider:
        consent = await at_the_provider.get(authorize_url)
    assert consent.status_code == 302, consent.text
    callback = consent.headers["location"]
    assert callback.startswith(f"{browser.base_url}/api/auth/oidc/local/callback")
    return callback.removeprefix(str(browser.base_url))


async def _sign_in(
    browser: httpx.AsyncClient, provider: Provider, redirect_to: str | None = "/dashboard"
) -> httpx.Response:
    return await browser.get(await _start(browser, redirect_to))


def _login_code(response: httpx.Response) -> str:
    """The one-time code the callback sends the dashboard, and nothing else in the URL."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    path, _, fragment = location.partition("#")
    assert path == "/dashboard"
    assert "access_token" not in location and "refresh_token" not in location, f"tokens in the URL: {location}"
    values = parse_qs(fragment)
    assert list(values) == ["login_code"], location
    return values["login_code"][0]


async def _exchange(browser: httpx.AsyncClient, code: str) -> httpx.Response:
    return await browser.post("/api/auth/oidc/exchange", json={"code": code})


async def test_oidc_login_creates_the_account_then_signs_the_same_account_in(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-alice", email="alice.oidc@example.com", name="Alice")
    first = await _exchange(browser, _login_code(await _sign_in(browser, provider)))
    assert first.status_code == 200, first.text
    tokens = first.json()
    me = (await browser.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert me["user"]["email"] == "alice.oidc@example.com" and me["role"] == "owner"

    again = (await _exchange(browser, _login_code(await _sign_in(browser, provider)))).json()
    me_again = (await browser.get("/api/auth/me", headers={"Authorization": f"Bearer {again['access_token']}"})).json()
    assert me_again["user"]["id"] == me["user"]["id"]
    assert len(me_again["workspaces"]) == 1, "a second login must not create a second workspace"


async def test_the_callback_sends_no_tokens_in_the_url_only_a_code_that_works_once(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-dora", email="dora.oidc@example.com", name="Dora")
    callback = await _sign_in(browser, provider)
    code = _login_code(callback)  # asserts the Location carries no token
    assert browser.cookies.get(BINDING_COOKIE, path="/api/auth/oidc"), "the binding cookie stays for the exchange"

    exchanged = await _exchange(browser, code)
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["user"]["email"] == "dora.oidc@example.com"
    assert exchanged.json()["access_token"] and exchanged.json()["refresh_token"]
    assert not browser.cookies.get(BINDING_COOKIE, path="/api/auth/oidc"), "the exchange clears the cookie"

    replay = await _exchange(browser, code)
    assert replay.status_code == 401
    assert "expired or was already used" in replay.json()["error"]["message"]


async def test_a_login_code_opens_only_in_the_browser_that_logged_in(
    browser: httpx.AsyncClient, other_browser: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-erin", email="erin.oidc@example.com", name="Erin")
    # A code carried to a browser with no OIDC cookie at all.
    leaked = _login_code(await _sign_in(browser, provider))
    async with httpx.AsyncClient(base_url=str(browser.base_url)) as cookieless:
        stolen = await _exchange(cookieless, leaked)
    assert stolen.status_code == 401
    assert "another browser" in stolen.json()["error"]["message"]
    assert "access_token" not in stolen.text
    # The attempt spent it: a code that leaked opens nothing, not even later in its own browser.
    assert (await _exchange(browser, leaked)).status_code == 401

    # A code carried to a browser that holds an OIDC cookie of its own (it started a login too).
    leaked = _login_code(await _sign_in(browser, provider))
    await _start(other_browser)
    assert other_browser.cookies.get(BINDING_COOKIE, path="/api/auth/oidc")
    stolen = await _exchange(other_browser, leaked)
    assert stolen.status_code == 401 and "access_token" not in stolen.text

    # Its own browser still signs in with a fresh code.
    own = await _exchange(browser, _login_code(await _sign_in(browser, provider)))
    assert own.status_code == 200 and own.json()["user"]["email"] == "erin.oidc@example.com"


async def test_a_callback_finished_in_a_browser_that_did_not_start_the_login_is_refused(
    browser: httpx.AsyncClient, other_browser: httpx.AsyncClient, provider: Provider
) -> None:
    """Login CSRF: the attacker starts a login with their own account and sends the victim the
    callback link; the victim's browser must not end up signed in as the attacker."""
    provider.user = User(sub="sub-attacker-csrf", email="attacker.csrf@example.com", name="Attacker")
    token_requests = provider.token_requests

    fed_to_victim = await _start(other_browser)  # the attacker's login, the attacker's cookie
    refused = await browser.get(fed_to_victim)
    assert refused.status_code == 302
    location = refused.headers["location"]
    assert location.startswith("/dashboard#error=") and "another+browser" in location
    assert "login_code" not in location and "access_token" not in location

    fed_to_script = await _start(other_browser, redirect_to=None)
    as_json = await browser.get(fed_to_script)
    assert as_json.status_code == 401 and "another browser" in as_json.json()["error"]["message"]
    assert provider.token_requests == token_requests, "the attacker's code is not even redeemed"


async def test_the_login_cookie_is_httponly_lax_and_scoped_to_the_oidc_routes(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    start = await browser.get("/api/auth/oidc/local/login", params={"redirect_to": "/dashboard"})
    cookie = start.headers["set-cookie"]
    assert cookie.startswith(f"{BINDING_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/api/auth/oidc" in cookie and "SameSite=lax" in cookie
    assert "secure" not in attributes, "the test stack's public URL is http: a Secure cookie would never come back"


async def test_oidc_without_redirect_returns_the_token_pair_as_json_to_the_browser_that_started(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-bob", email="bob.oidc@example.com", name="Bob")
    response = await _sign_in(browser, provider, redirect_to=None)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "bob.oidc@example.com"
    assert not browser.cookies.get(BINDING_COOKIE, path="/api/auth/oidc"), "the login is over: cookie cleared"


async def test_a_callback_state_is_single_use_and_must_be_ours(browser: httpx.AsyncClient, provider: Provider) -> None:
    provider.user = User(sub="sub-carol", email="carol.oidc@example.com", name="Carol")
    path = await _start(browser, redirect_to=None)
    assert (await browser.get(path)).status_code == 200
    replay = await browser.get(path)
    assert replay.status_code == 401 and "expired or already used" in replay.json()["error"]["message"]
    forged = await browser.get("/api/auth/oidc/local/callback", params={"state": "made-up-state-123", "code": "x"})
    assert forged.status_code == 401


async def test_an_id_token_with_the_wrong_nonce_is_refused(browser: httpx.AsyncClient, provider: Provider) -> None:
    provider.user = User(sub="sub-mallory", email="mallory.oidc@example.com", name="Mallory")
    provider.wrong_nonce = True
    try:
        response = await _sign_in(browser, provider, redirect_to=None)
        from_dashboard = await _sign_in(browser, provider)
    finally:
        provider.wrong_nonce = False
    assert response.status_code == 401
    assert "nonce" in response.json()["error"]["message"]
    # A login started from the dashboard goes back there with the reason, not to a JSON page.
    assert from_dashboard.status_code == 302
    location = from_dashboard.headers["location"]
    assert location.startswith("/dashboard#error=") and "nonce" in location
    assert "access_token" not in location and "login_code" not in location


async def test_an_unverified_email_does_not_take_over_an_existing_account(
    http: httpx.AsyncClient, browser: httpx.AsyncClient, provider: Provider
) -> None:
    from .accounts import register

    victim = await register(http)
    provider.user = User(sub="sub-attacker", email=victim.email, name="Attacker", email_verified=False)
    response = await _sign_in(browser, provider, redirect_to=None)
    assert response.status_code == 401


async def test_bad_login_codes_and_open_redirects_and_unknown_providers_are_refused(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        response = await browser.get("/api/auth/oidc/local/login", params={"redirect_to": target})
        assert response.status_code == 400, target
    assert (await browser.get("/api/auth/oidc/nope/login")).status_code == 404
    providers = (await browser.get("/api/auth/oidc/providers")).json()
    assert providers == {"providers": ["local"]}
    made_up = await _exchange(browser, "made-up-login-code-0123456789")
    assert made_up.status_code == 401 and made_up.json()["error"]["message"]
    for body in ({}, {"code": 42}, {"code": "short"}):
        assert (await browser.post("/api/auth/oidc/exchange", json=body)).status_code == 422, body


async def test_an_issuer_that_rotated_its_signing_key_is_followed(
    browser: httpx.AsyncClient, provider: Provider, running_stack: RunningStack
) -> None:
    """Cortex keeps an issuer's JWKS for an hour; an ID token signed with a key it has not seen
    (the issuer rotated its keys) makes it fetch the JWKS again instead of refusing every login."""
    provider.user = User(sub="sub-rotation", email="rotation.oidc@example.com", name="Rota")
    before = await _exchange(browser, _login_code(await _sign_in(browser, provider)))
    assert before.status_code == 200, before.text  # the JWKS with the first key is now cached
    provider.stop()
    rotated = Provider(running_stack.oidc_port, provider.client)
    rotated.user = provider.user
    rotated.start()
    try:
        after = await _exchange(browser, _login_code(await _sign_in(browser, rotated)))
    finally:
        rotated.stop()
        provider.start()
    assert after.status_code == 200, after.text
    assert rotated.kid != provider.kid

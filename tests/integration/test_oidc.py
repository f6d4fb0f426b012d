"""Log in with OpenID Connect, end to end against a real (local) authlib provider."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.stack_fixtures import OIDC_CLIENT_SECRET, RunningStack

from .oidc_provider import Client, Provider, User


@pytest.fixture(scope="module")
def provider(running_stack: RunningStack) -> Iterator[Provider]:
    callback = f"{running_stack.url}/api/auth/oidc/local/callback"
    provider = Provider(running_stack.oidc_port, Client("cortex-test", OIDC_CLIENT_SECRET, [callback]))
    provider.start()
    yield provider
    provider.stop()


async def _sign_in(
    http: httpx.AsyncClient, provider: Provider, redirect_to: str | None = "/dashboard"
) -> httpx.Response:
    params = {"redirect_to": redirect_to} if redirect_to else {}
    start = await http.get("/api/auth/oidc/local/login", params=params)
    assert start.status_code == 302, start.text
    authorize_url = start.headers["location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0] and query["scope"] == ["openid email profile"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(authorize_url)
    assert consent.status_code == 302, consent.text
    callback = consent.headers["location"]
    assert callback.startswith(f"{http.base_url}/api/auth/oidc/local/callback")
    return await http.get(callback.removeprefix(str(http.base_url)))


def _fragment_tokens(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    path, _, fragment = location.partition("#")
    assert path == "/dashboard"
    return {key: values[0] for key, values in parse_qs(fragment).items()}


async def test_oidc_login_creates_the_account_then_signs_the_same_account_in(
    http: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-alice", email="alice.oidc@example.com", name="Alice")
    first = await _sign_in(http, provider)
    assert first.status_code == 302
    tokens = _fragment_tokens(first)
    me = (await http.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert me["user"]["email"] == "alice.oidc@example.com" and me["role"] == "owner"

    again = _fragment_tokens(await _sign_in(http, provider))
    me_again = (await http.get("/api/auth/me", headers={"Authorization": f"Bearer {again['access_token']}"})).json()
    assert me_again["user"]["id"] == me["user"]["id"]
    assert len(me_again["workspaces"]) == 1, "a second login must not create a second workspace"


async def test_oidc_without_redirect_returns_the_token_pair_as_json(
    http: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub="sub-bob", email="bob.oidc@example.com", name="Bob")
    response = await _sign_in(http, provider, redirect_to=None)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "bob.oidc@example.com"


async def test_a_callback_state_is_single_use_and_must_be_ours(http: httpx.AsyncClient, provider: Provider) -> None:
    provider.user = User(sub="sub-carol", email="carol.oidc@example.com", name="Carol")
    start = await http.get("/api/auth/oidc/local/login")
    async with httpx.AsyncClient() as browser:
        callback = (await browser.get(start.headers["location"])).headers["location"]
    path = callback.removeprefix(str(http.base_url))
    assert (await http.get(path)).status_code == 200
    replay = await http.get(path)
    assert replay.status_code == 401 and "expired or already used" in replay.json()["error"]["message"]
    forged = await http.get("/api/auth/oidc/local/callback", params={"state": "made-up-state-123", "code": "x"})
    assert forged.status_code == 401


async def test_an_id_token_with_the_wrong_nonce_is_refused(http: httpx.AsyncClient, provider: Provider) -> None:
    provider.user = User(sub="sub-mallory", email="mallory.oidc@example.com", name="Mallory")
    provider.wrong_nonce = True
    try:
        response = await _sign_in(http, provider, redirect_to=None)
        from_dashboard = await _sign_in(http, provider)
    finally:
        provider.wrong_nonce = False
    assert response.status_code == 401
    assert "nonce" in response.json()["error"]["message"]
    # A login started from the dashboard goes back there with the reason, not to a JSON page.
    assert from_dashboard.status_code == 302
    location = from_dashboard.headers["location"]
    assert location.startswith("/dashboard#error=") and "nonce" in location and "access_token" not in location


async def test_an_unverified_email_does_not_take_over_an_existing_account(
    http: httpx.AsyncClient, provider: Provider
) -> None:
    from .accounts import register

    victim = await register(http)
    provider.user = User(sub="sub-attacker", email=victim.email, name="Attacker", email_verified=False)
    response = await _sign_in(http, provider, redirect_to=None)
    assert response.status_code == 401


async def test_open_redirects_and_unknown_providers_are_refused(http: httpx.AsyncClient, provider: Provider) -> None:
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        response = await http.get("/api/auth/oidc/local/login", params={"redirect_to": target})
        assert response.status_code == 400, target
    assert (await http.get("/api/auth/oidc/nope/login")).status_code == 404
    providers = (await http.get("/api/auth/oidc/providers")).json()
    assert providers == {"providers": ["local"]}

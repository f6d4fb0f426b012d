"""A real OpenID Connect provider for the tests, built with authlib's authorization server.

Authorization code flow with PKCE (required) and nonce (required), RS256 ID tokens, discovery
and JWKS — the protocol Google and every OIDC issuer speak. It signs in one configurable user
without a login page (the tests play the user who clicks "allow").
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin, ClientMixin
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from tests.stack_fixtures import OIDC_CLIENT_SECRET, RunningStack

# The provider listens on loopback http; authlib insists on https unless told otherwise.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"


@dataclass
class User:
    sub: str
    email: str
    name: str
    email_verified: bool = True


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: User
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Provider:
    """Run with start(); the tests set `user` (who signs in) and may break the nonce on purpose."""

    def __init__(self, port: int, client: Client) -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.client = client
        self.user = User(sub="local-1", email="oidc.user@example.com", name="Oidc User")
        self.wrong_nonce = False
        # A new key id for each provider: a new provider on the same port is an issuer that rotated its keys.
        self.kid = f"test-key-{secrets.token_hex(4)}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.codes: dict[str, AuthorizationCode] = {}
        self.token_requests = 0
        self.app = self._build()
        self._server = None

    def _build(self) -> Flask:
        provider = self
        app = Flask("oidc-provider")

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]

            def save_authorization_code(self, code: str, request) -> None:  # noqa: ANN001
                data = request.payload.data
                provider.codes[code] = AuthorizationCode(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    user=request.user,
                )

            def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
                return authorization_code.user

        class IdToken(OpenIDCode):
            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return provider.key

            def get_client_claims(self, client: Client) -> dict:
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def get_encode_header(self, client: Client) -> dict:
                return {"alg": "RS256", "kid": provider.kid}

            def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
                return any(code.nonce == nonce for code in provider.codes.values())

            def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.wrong_nonce:
                    claims["nonce"] = "not-the-nonce-you-sent"
                return claims

            def generate_user_info(self, user: User, scope: str) -> UserInfo:
                return UserInfo(sub=user.sub, name=user.name, email=user.email, email_verified=user.email_verified)

        def save_token(token: dict, request) -> None:  # noqa: ANN001
            provider.token_requests += 1

        server = AuthorizationServer(
            app,
            query_client=lambda cid: provider.client if cid == provider.client.client_id else None,
            save_token=save_token,
        )
        server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery():  # noqa: ANN202
            return jsonify(
                {
                    "issuer": provider.issuer,
                    "authorization_endpoint": f"{provider.issuer}/authorize",
                    "token_endpoint": f"{provider.issuer}/token",
                    "jwks_uri": f"{provider.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                }
            )

        @app.get("/jwks")
        def jwks():  # noqa: ANN202
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize():  # noqa: ANN202
            return server.create_authorization_response(grant_user=provider.user)

        @app.post("/token")
        def token():  # noqa: ANN202
            return server.create_token_response()

        return app

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


@pytest.fixture(scope="module")
def provider(running_stack: RunningStack) -> Iterator[Provider]:
    """The identity provider the test stack is configured with (`local`), one per test module."""
    callback = f"{running_stack.url}/api/auth/oidc/local/callback"
    provider = Provider(running_stack.oidc_port, Client("cortex-test", OIDC_CLIENT_SECRET, [callback]))
    provider.start()
    yield provider
    provider.stop()

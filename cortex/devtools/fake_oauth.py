"""What the local Google Calendar and Microsoft Graph stand-ins share: a threaded HTTP server on a free
loopback port with a small router, and an OAuth 2.0 authorization server (authorization-code grant with
refresh tokens) speaking the token endpoint's real wire format: form-encoded requests, JSON answers,
RFC 6749 error objects.

The authorize endpoint consents at once for `user` (no login page) and redirects back with a code, so a
test follows the authorize URL like a browser. Controls for tests and benchmarks: `expire_access_tokens`
(the next API call gets the provider's 401, so the client must refresh), `revoke_refresh_tokens` (the
refresh gets `invalid_grant`), `fail_next` (status codes for the next API calls), `stop`/`start`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

# Real providers issue access tokens for about an hour.
ACCESS_TOKEN_TTL_S = 3599


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its kept-alive connection is normal here, not a traceback on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, dict[str, str]], Response]


@dataclass
class Grant:
    """What one consent granted: the user, the client, the scopes."""

    user: str
    client_id: str
    scope: str


class FakeProvider:
    """The HTTP server, the router and the OAuth authorization server; subclasses add the API routes."""

    #: ("POST", "/token") style routes; a path segment "{name}" matches one segment.
    routes: list[tuple[str, str, str]] = []

    def __init__(self, *, client_id: str, client_secret: str, user: str, port: int = 0) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.fail_next: list[int] = []
        self.codes: dict[str, tuple[Grant, str, str | None]] = {}  # code -> (grant, redirect_uri, PKCE challenge)
        self.access_tokens: dict[str, tuple[Grant, float]] = {}  # token -> (grant, expires at)
        self.refresh_tokens: dict[str, Grant] = {}
        self.token_requests: list[dict[str, str]] = []
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- running ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeProvider:
        """Listen (again, on the same port after `stop`)."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", self._port), self._handler_class())
            self._port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- controls -----------------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired: the next API call answers 401."""
        with self.lock:
            self.access_tokens = {token: (grant, 0.0) for token, (grant, _) in self.access_tokens.items()}

    def revoke_refresh_tokens(self) -> None:
        """The user removed the app's access: refreshing answers invalid_grant."""
        with self.lock:
            self.refresh_tokens.clear()
            self.expire_access_tokens()

    def issue_tokens(self, *, scope: str = "") -> dict[str, Any]:
        """Tokens as if the user had consented (for a benchmark that connects without a browser)."""
        with self.lock:
            grant = Grant(self.user, self.client_id, scope)
            refresh_token = "1//" + secrets.token_urlsafe(32)
            self.refresh_tokens[refresh_token] = grant
            return {**self._access(grant), "refresh_token": refresh_token}

    # -- OAuth -------------------------------------------------------------------------------------

    def _access(self, grant: Grant) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = (grant, time.time() + ACCESS_TOKEN_TTL_S)
        return {"access_token": token, "expires_in": ACCESS_TOKEN_TTL_S, "scope": grant.scope, "token_type": "Bearer"}

    def authorize(self, request: Request, params: dict[str, str]) -> Response:
        """Consent at once and send the browser back to the client with a code (or an error)."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith(("http://", "https://")):
            return Response(400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"})
        back: dict[str, str] = {"state": query.get("state", "")}
        if query.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif not query.get("scope"):
            back["error"] = "invalid_scope"
        else:
            code = "4/" + secrets.token_urlsafe(24)
            with self.lock:
                challenge = query.get("code_challenge") if query.get("code_challenge_method") == "S256" else None
                self.codes[code] = (Grant(self.user, self.client_id, query["scope"]), redirect_uri, challenge)
            back["code"] = code
        separator = "&" if "?" in redirect_uri else "?"
        return Response(302, None, {"Location": redirect_uri + separator + urlencode(back)})

    def token_error(self, status: int, error: str, description: str) -> Response:
        """The provider's token endpoint error body (RFC 6749 §5.2); subclasses add their own fields."""
        return Response(status, {"error": error, "error_description": description})

    def rotates_refresh_tokens(self) -> bool:
        """Whether a refresh answers with a new refresh token (Microsoft does, Google does not)."""
        return False

    def token(self, request: Request, params: dict[str, str]) -> Response:
        """The token endpoint: authorization_code and refresh_token grants, client secret in the form
        or in HTTP Basic auth."""
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self.token_error(400, "invalid_request", "the body must be form-encoded")
        form = request.form()
        with self.lock:
            self.token_requests.append({key: value for key, value in form.items() if "secret" not in key})
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return self.token_error(401, "invalid_client", "The OAuth client was not found or its secret is wrong.")
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                found = self.codes.pop(form.get("code", ""), None)
                if found is None or found[1] != form.get("redirect_uri"):
                    return self.token_error(400, "invalid_grant", "Malformed auth code or redirect_uri mismatch.")
                if found[2] is not None and _s256(form.get("code_verifier", "")) != found[2]:
                    return self.token_error(400, "invalid_grant", "Missing or invalid code verifier.")
                grant = found[0]
                refresh_token = "1//" + secrets.token_urlsafe(32)
                self.refresh_tokens[refresh_token] = grant
                return Response(200, {**self._access(grant), "refresh_token": refresh_token})
            if grant_type == "refresh_token":
                grant_or_none = self.refresh_tokens.get(form.get("refresh_token", ""))
                if grant_or_none is None:
                    return self.token_error(400, "invalid_grant", "Token has been expired or revoked.")
                body = self._access(grant_or_none)
                if self.rotates_refresh_tokens():
                    del self.refresh_tokens[form["refresh_token"]]
                    new_refresh = "1//" + secrets.token_urlsafe(32)
                    self.refresh_tokens[new_refresh] = grant_or_none
                    body["refresh_token"] = new_refresh
                return Response(200, body)
        return self.token_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def authenticated(self, request: Request) -> Grant | None:
        """The grant behind a valid, unexpired bearer token."""
        with self.lock:
            found = self.access_tokens.get(request.bearer or "")
        if found is None or found[1] < time.time():
            return None
        return found[0]

    # -- HTTP plumbing -----------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
        for method, pattern, name in self.routes:
            if method != request.method:
                continue
            params = _match(pattern, request.path)
            if params is not None:
                handler: Handler = getattr(self, name)
                return handler(request, params)
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": {"code": 404, "message": "Not Found"}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class HTTPHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without this, Nagle and delayed ACKs add ~40 ms to
            # each kept-alive request, which a benchmark would charge to Cortex.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=split.path,
                    query={key: values[0] for key, values in parse_qs(split.query).items()},
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    response = provider.dispatch(request)
                except (ValueError, KeyError, TypeError) as exc:
                    response = Response(400, {"error": {"code": 400, "message": f"Bad Request: {exc}"}})
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

        return HTTPHandler


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _match(pattern: str, path: str) -> dict[str, str] | None:
    """{name: segment} when `path` matches `pattern` ("/calendars/{calendar}/events"), else None."""
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(want, got, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            params[expected[1:-1]] = unquote(actual)
        elif expected != actual:
            return None
    return params

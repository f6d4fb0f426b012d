"""Cortex's HTTP API as the command line calls it: one base URL, a bearer token, readable errors.

`cortex demo`, `cortex ingest` and `cortex crawl` go through the gateway like any other client,
so they can do exactly what the dashboard can and nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import httpx

# Generous: an upload of a large file through the gateway on a busy machine.
TIMEOUT_S = 120
# Statuses whose body is the JSON a caller wants; another expected status (204, 404, 409) gives None.
_WITH_BODY = (200, 201, 202)
# A knowledge source's job has ended (a crawl can also be paused).
FINISHED = ("ready", "failed", "cancelled", "paused")


class ApiError(RuntimeError):
    """A response with a status the caller did not expect; the message names the request and why."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.reason = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            self.reason = response.text[:200]
        request = response.request
        super().__init__(f"{request.method} {request.url.path}: {self.status} {self.reason}")


class ApiClient:
    """The gateway at `base_url`, as a caller with an API key (`token`) or a signed-in account."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.refresh_token: str | None = None
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def sign_in(self, tokens: dict[str, Any]) -> None:
        """Act as the account a login or registration returned `tokens` for."""
        self.http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        self.refresh_token = tokens["refresh_token"]

    def request(self, method: str, path: str, *, expect: Collection[int] | None = None, **kwargs: Any) -> Any:
        """The response's JSON; ApiError unless its status is in `expect` (default: any below 400)."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 401 and self.refresh_token:
            # A long wait (an ingestion job) can outlast an access token (15 min): renew once, retry.
            renewed = self.http.post("/api/auth/refresh", json={"refresh_token": self.refresh_token})
            if renewed.status_code == 200:
                self.sign_in(renewed.json())
                response = self.http.request(method, path, **kwargs)
        ok = response.status_code in expect if expect is not None else response.status_code < 400
        if not ok:
            raise ApiError(response)
        return response.json() if response.status_code in _WITH_BODY else None

    def get(self, path: str, *, expect: Collection[int] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, expect=expect, **kwargs)

    def post(self, path: str, *, expect: Collection[int] | None = None, **kwargs: Any) -> Any:
        return self.request("POST", path, expect=expect, **kwargs)

    def delete(self, path: str, *, expect: Collection[int] | None = None) -> Any:
        return self.request("DELETE", path, expect=expect)

    def follow(
        self,
        path: str,
        *,
        on_progress: Callable[[dict[str, Any]], None],
        poll_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Poll a knowledge source (`path`: a file, collection or crawl) until its job ends and return
        its record; `on_progress` sees every record read. TimeoutError after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            record: dict[str, Any] = self.get(path)
            on_progress(record)
            if record["status"] in FINISHED:
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{path} still {record['status']} after {timeout_s:.0f}s")
            time.sleep(poll_s)

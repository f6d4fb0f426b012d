"""Pure-ASGI middleware: request id, body size limit, access log.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses (SSE) pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cortex.errors import PayloadTooLarge
from cortex.http.errors import OUTAGE_MESSAGE, OUTAGE_RETRY_AFTER_S, error_body, is_outage
from cortex.logs import request_id_var

log = logging.getLogger("cortex.access")

# A caller-supplied id is kept only when it is short and printable, so a hostile header can
# neither bloat logs nor inject fake log fields.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _in_serve_replica() -> bool:
    """Serve's own request-id middleware (and HAProxy) already set and echo X-Request-ID."""
    try:
        from ray.serve.context import _get_internal_replica_context
    except ImportError:
        return False
    return _get_internal_replica_context() is not None


class RequestContextMiddleware:
    """Accepts or generates ``X-Request-ID``, echoes it, and caps the request body size."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.echo_request_id = not _in_serve_replica()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 0, "started": False}
        refused_body = False

        async def send_with_id(message: Message) -> None:
            if refused_body:
                return  # the 413 is already sent; drop whatever the app makes of the cut body
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                if not self.echo_request_id:
                    await send(message)
                    return
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _send_json(send_with_id, 413, f"request body larger than {self.max_body_bytes} bytes")
            return

        received = 0

        async def limited_receive() -> Message:
            # A body without Content-Length is counted as it streams in. The 413 is sent from
            # here because frameworks turn errors raised while reading a body into their own 400.
            nonlocal received, refused_body
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    if not status_holder["started"]:
                        await _send_json(send_with_id, 413, f"request body larger than {self.max_body_bytes} bytes")
                        refused_body = True
                    raise PayloadTooLarge(f"request body larger than {self.max_body_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except PayloadTooLarge:
            if not status_holder["started"]:
                await _send_json(send_with_id, 413, f"request body larger than {self.max_body_bytes} bytes")
        except Exception as exc:
            if is_outage(exc):
                log.warning("dependency unavailable: %r", exc, extra={"path": scope.get("path")})
                if not status_holder["started"]:
                    await _send_json(send_with_id, 503, OUTAGE_MESSAGE, retry_after=OUTAGE_RETRY_AFTER_S)
            else:
                log.exception("request failed", extra={"path": scope.get("path")})
                if not status_holder["started"]:
                    await _send_json(send_with_id, 500, "internal error; quote the request id when reporting it")
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


async def _send_json(send: Send, status: int, message: str, *, retry_after: str | None = None) -> None:
    body = orjson.dumps(error_body(status, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Every 4xx/5xx leaves as ``{"error": {"code", "message", "request_id"}}`` — never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cortex.errors import CortexError
from cortex.http.responses import FastJSONResponse
from cortex.logs import request_id_var

log = logging.getLogger("cortex.http")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(status: int, message: str, *, code: str | None = None, details: Any = None) -> dict:
    """The error envelope; `details` carries field paths for validation errors."""
    error: dict[str, Any] = {
        "code": code or _HTTP_CODES.get(status, "error" if status < 500 else "internal_error"),
        "message": message,
        "request_id": request_id_var.get(),
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int, message: str, *, code: str | None = None, details: Any = None, headers: dict | None = None
) -> FastJSONResponse:
    return FastJSONResponse(error_body(status, message, code=code, details=details), status, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        fields.append(
            {
                "field": ".".join(str(part) for part in err.get("loc", ())),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    return fields


async def _cortex_error(_: Request, exc: CortexError) -> FastJSONResponse:
    if exc.status_code >= 500:
        log.error("service error: %s", exc.message)
    return error_response(exc.status_code, exc.message, code=exc.code, details=exc.details, headers=exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> FastJSONResponse:
    fields = _field_errors(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return error_response(422, f"invalid request: {summary}", details=fields)


async def _http_error(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


# A dependency that cannot be reached (Chroma, Redis, Postgres, another service) is an outage,
# not a bug: the caller gets 503 and a hint to retry, and the log says which part was down.
OUTAGES: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    ConnectionError,
    RedisConnectionError,
    RedisTimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
)
OUTAGE_MESSAGE = "a service this request needs is unavailable right now; retry shortly"
OUTAGE_RETRY_AFTER_S = "5"


def is_outage(exc: BaseException) -> bool:
    """The exception, or what caused it, is a dependency that could not be reached."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, OUTAGES):
            return True
        current, seen = current.__cause__ or current.__context__, seen + 1
    return False


async def _unhandled(_: Request, exc: Exception) -> FastJSONResponse:
    if is_outage(exc):
        log.warning("dependency unavailable: %r", exc)
        return error_response(503, OUTAGE_MESSAGE, headers={"Retry-After": OUTAGE_RETRY_AFTER_S})
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal error; quote the request id when reporting it")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CortexError, _cortex_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)

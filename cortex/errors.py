"""One error hierarchy for every service, mapped to HTTP in one handler (cortex.http.errors)."""

from __future__ import annotations

from typing import Any


class CortexError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str = "", *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message or self.code.replace("_", " "))
        self.message = message or self.code.replace("_", " ")
        self.details = details
        self.headers = headers or {}


class BadRequest(CortexError):
    status_code = 400
    code = "bad_request"


class Unauthorized(CortexError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CortexError):
    status_code = 403
    code = "forbidden"


class NotFound(CortexError):
    status_code = 404
    code = "not_found"


class Conflict(CortexError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(CortexError):
    status_code = 413
    code = "payload_too_large"


class Invalid(CortexError):
    status_code = 422
    code = "validation_error"


class RateLimited(CortexError):
    status_code = 429
    code = "rate_limited"


class Unavailable(CortexError):
    status_code = 503
    code = "unavailable"

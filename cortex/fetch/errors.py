"""Why a fetch was refused or failed: one class per reason, each with a one-word ``code`` callers store."""

from __future__ import annotations

from cortex.errors import CortexError


class FetchError(CortexError):
    """A URL could not be fetched; ``code`` names the reason in one word callers can store."""

    status_code = 502
    code = "fetch_error"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class BlockedAddress(FetchError):
    """The URL's host is (or resolves to) an address the policy forbids: private, loopback, metadata…"""

    status_code = 422
    code = "blocked_address"

    def __init__(self, message: str, *, url: str | None = None, address: str = "", reason: str = "") -> None:
        super().__init__(message, url=url)
        self.address = address
        self.reason = reason


class BadScheme(FetchError):
    """Only http and https URLs are fetched."""

    status_code = 422
    code = "bad_scheme"


class BadUrl(FetchError):
    """The URL cannot be fetched as written: unparseable, no host, or credentials in it."""

    status_code = 422
    code = "bad_url"


class ResponseTooLarge(FetchError):
    """The (decoded) body is larger than the limit; the download was aborted."""

    status_code = 413
    code = "too_large"


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect loop."""

    code = "too_many_redirects"


class FetchTimeout(FetchError):
    """Connecting, reading, or the whole fetch took longer than allowed."""

    status_code = 504
    code = "timeout"


class ConnectionFailed(FetchError):
    """The host did not resolve, refused the connection, or broke the HTTP exchange."""

    code = "connection"


class HttpStatusError(FetchError):
    """The server answered with a 4xx/5xx status (``.status``)."""

    code = "http_status"

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.status = status


class UnsupportedContentType(FetchError):
    """The response's media type is not one the caller accepts; the body was not downloaded."""

    status_code = 415
    code = "content_type"

    def __init__(self, message: str, *, content_type: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.content_type = content_type


class BadResponse(FetchError):
    """The response could not be decoded (unknown or corrupt content encoding)."""

    code = "bad_response"

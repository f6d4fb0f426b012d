"""HTTP API of the `openai` application (mounted under /v1): OpenAI's wire format for Cortex bots.

`Authorization: Bearer <Cortex API key>` (a member's access token works too); errors are
OpenAI-shaped, ``{"error": {"message", "type", "code", "param"}}``, so the `openai` package
raises its usual exceptions (AuthenticationError, NotFoundError, UnprocessableEntityError, …).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cortex.core import openai_schemas as schemas
from cortex.core import sse
from cortex.core.api import chat_pipeline, service_pool
from cortex.core.chat import ChatPipeline
from cortex.core.openai_service import Completions
from cortex.errors import CortexError
from cortex.http import create_service_app
from cortex.http.app import Readiness
from cortex.http.responses import FastJSONResponse
from cortex.http.security import Principal, require
from cortex.logs import request_id_var

router = APIRouter()

Caller = Annotated[Principal, Depends(require("viewer"))]
# A completion starts a conversation: a write, so it takes an agent (an API key's `reply`).
Replier = Annotated[Principal, Depends(require("agent"))]


async def models_service(request: Request) -> Completions:
    return Completions(db=service_pool(request))


async def completions_service(
    request: Request, pipeline: Annotated[ChatPipeline, Depends(chat_pipeline)]
) -> Completions:
    return Completions(db=service_pool(request), pipeline=pipeline)


@router.get("/models", response_model=schemas.ModelList, tags=["openai"])
async def list_models(principal: Caller, service: Annotated[Completions, Depends(models_service)]) -> Any:
    """The workspace's bots, each a model whose id is the bot id."""
    return await service.list_models(principal)


@router.get("/models/{model}", response_model=schemas.Model, tags=["openai"])
async def get_model(model: str, principal: Caller, service: Annotated[Completions, Depends(models_service)]) -> Any:
    return await service.get_model(principal, model)


@router.post("/chat/completions", response_model=schemas.ChatCompletion, tags=["openai"])
async def chat_completions(
    data: schemas.ChatCompletionRequest,
    principal: Replier,
    service: Annotated[Completions, Depends(completions_service)],
) -> Any:
    """One chat turn with a bot (the `model`): a `chat.completion`, or with stream=true SSE chunks."""
    if not data.stream:
        return await service.complete(principal, data)
    return sse.response(await service.stream(principal, data))


# -- OpenAI-shaped errors ---------------------------------------------------------------------------

_ERROR_TYPES = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    413: ("invalid_request_error", "payload_too_large"),
    422: ("invalid_request_error", "invalid_request"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_error(
    status: int, message: str, *, code: str | None = None, param: str | None = None, headers: dict | None = None
) -> FastJSONResponse:
    kind, default_code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    error = {
        "message": message,
        "type": kind,
        "code": code or default_code or ("internal_error" if status >= 500 else "bad_request"),
        "param": param,
        "request_id": request_id_var.get(),
    }
    return FastJSONResponse({"error": error}, status, headers=headers)


# Cortex's generic codes give way to OpenAI's per status; specific ones (model_not_found) stay.
_GENERIC_CODES = frozenset(
    {"bad_request", "unauthorized", "forbidden", "not_found", "conflict", "payload_too_large", "validation_error"}
    | {"rate_limited", "unavailable", "internal_error"}
)


async def _cortex_error(_: Request, exc: CortexError) -> FastJSONResponse:
    specific = exc.code if exc.code not in _GENERIC_CODES else None
    return openai_error(exc.status_code, exc.message, code=specific, headers=exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> FastJSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
        for e in errors[:5]
    )
    return openai_error(422, f"invalid request: {message}", param=".".join(location) or None)


async def _http_error(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "error"
    return openai_error(exc.status_code, message, headers=getattr(exc, "headers", None))


def install_openai_errors(app: FastAPI) -> None:
    """Replace the Cortex envelope with OpenAI's on this application (health routes included)."""
    app.add_exception_handler(CortexError, _cortex_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


def create_app(
    make_chat_collaborators: Callable[..., dict[str, Any]] | None = None, checks: Sequence[Readiness] = ()
) -> FastAPI:
    """The `openai` application: core's chat pipeline (and core's schema) behind OpenAI's wire format.

    `make_chat_collaborators(settings)` as for core: Serve handles in the cluster (the LLM is
    core's LLM deployment), local objects in one process (cortex/inprocess.py); `checks` as for core.
    """
    app = create_service_app("openai", routers=[router], checks=checks, schema="core")
    install_openai_errors(app)
    app.state.make_chat_collaborators = make_chat_collaborators
    app.state.chat_collaborators = None
    return app

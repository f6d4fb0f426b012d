"""HTTP API of the `core` service (mounted under /api by Serve or the monolith)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse

from cortex.core import schemas
from cortex.core.chat import ChatPipeline, Timeouts
from cortex.core.service import CoreService
from cortex.http import create_service_app
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require, require_visitor_or

router = APIRouter()


def core_service(request: Request) -> CoreService:
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    return CoreService(db=resources.db)


Service = Annotated[CoreService, Depends(core_service)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Agent = Annotated[Principal, Depends(require("agent"))]
Admin = Annotated[Principal, Depends(require("admin"))]


@router.post("/bots", status_code=201, response_model=schemas.BotPublic, tags=["bots"])
async def create_bot(data: schemas.BotIn, principal: Admin, service: Service) -> schemas.BotPublic:
    return await service.create_bot(principal, data)


@router.get("/bots", response_model=list[schemas.BotPublic], tags=["bots"])
async def list_bots(principal: Viewer, service: Service) -> list[schemas.BotPublic]:
    return await service.list_bots(principal)


@router.get("/bots/{bot_id}", response_model=schemas.BotPublic, tags=["bots"])
async def get_bot(bot_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.BotPublic:
    return await service.get_bot(principal, bot_id)


@router.patch("/bots/{bot_id}", response_model=schemas.BotPublic, tags=["bots"])
async def update_bot(
    bot_id: uuid.UUID, data: schemas.BotUpdate, principal: Admin, service: Service
) -> schemas.BotPublic:
    return await service.update_bot(principal, bot_id, data)


@router.delete("/bots/{bot_id}", status_code=204, tags=["bots"])
async def delete_bot(bot_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    await service.delete_bot(principal, bot_id)
    return Response(status_code=204)


def conversation_filters(
    bot_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[schemas.ConversationStatus | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="last message at or after")] = None,
    until: Annotated[datetime | None, Query(description="started before")] = None,
    rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    q: Annotated[str | None, Query(min_length=2, max_length=200, description="text in any message")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict:
    return {
        "bot_id": bot_id,
        "status": status,
        "since": since,
        "until": until,
        "rating": rating,
        "text": q,
        "limit": limit,
        "offset": offset,
    }


Filters = Annotated[dict, Depends(conversation_filters)]


@router.get("/conversations", response_model=list[schemas.ConversationPublic], tags=["conversations"])
async def list_conversations(principal: Viewer, service: Service, filters: Filters) -> list[schemas.ConversationPublic]:
    return await service.list_conversations(principal, **filters)


@router.get("/conversations/export", tags=["conversations"])
async def export_conversations(
    principal: Admin, service: Service, filters: Filters, format: Literal["json", "csv"] = "json"
) -> Response:
    """Every matching conversation with its transcript, as JSON or CSV."""
    media_type, body = await service.export_conversations(principal, fmt=format, **filters)
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="conversations.{format}"',
        },
    )


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationDetail, tags=["conversations"])
async def get_conversation(
    conversation_id: uuid.UUID, principal: Viewer, service: Service
) -> schemas.ConversationDetail:
    return await service.get_conversation(principal, conversation_id)


@router.patch("/conversations/{conversation_id}", response_model=schemas.ConversationPublic, tags=["conversations"])
async def update_conversation(
    conversation_id: uuid.UUID, data: schemas.ConversationUpdate, principal: Agent, service: Service
) -> schemas.ConversationPublic:
    return await service.update_conversation(principal, conversation_id, data)


@router.delete("/conversations/{conversation_id}", status_code=204, tags=["conversations"])
async def delete_conversation(conversation_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    await service.delete_conversation(principal, conversation_id)
    return Response(status_code=204)


def chat_pipeline(request: Request) -> ChatPipeline:
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    state = request.app.state
    if getattr(state, "chat_collaborators", None) is None:
        state.chat_collaborators = state.make_chat_collaborators(resources.settings)
    timeouts = Timeouts(
        retrieval_s=resources.settings.retrieval_timeout_s, guidance_s=resources.settings.guidance_timeout_s
    )
    return ChatPipeline(db=resources.db, timeouts=timeouts, **state.chat_collaborators)


Chat = Annotated[ChatPipeline, Depends(chat_pipeline)]
Chatter = Annotated[Principal, Depends(require_visitor_or("viewer"))]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


@router.post("/chat", tags=["chat"], response_model=schemas.ChatOut)
async def chat(data: schemas.ChatIn, principal: Chatter, pipeline: Chat) -> Any:
    """One turn of a conversation: server-sent events (token…, done) or, with stream=false, JSON."""
    events = pipeline.turn(principal, data)
    first = await anext(events)  # errors before the answer starts (404, …) are still plain JSON errors
    if not data.stream:
        done: dict[str, Any] = {}
        async for event in events:
            if event["event"] == "done":
                done = event
        return schemas.ChatOut(
            conversation_id=done["conversation_id"],
            message_id=done["message_id"] or uuid.uuid4(),
            content=done.get("content") or done.get("notice", ""),
            citations=done["citations"],
            direct_answer=done["direct_answer"],
            degraded=done["degraded"],
        )

    async def sse() -> AsyncIterator[bytes]:
        yield _sse(first)
        async for event in events:
            yield _sse(event)

    return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)


def _sse(event: dict[str, Any]) -> bytes:
    name = event["event"]
    body = {key: value for key, value in event.items() if key != "event"}
    return f"event: {name}\ndata: ".encode() + orjson.dumps(body) + b"\n\n"


def create_app(make_chat_collaborators: Callable[..., dict[str, Any]] | None = None) -> FastAPI:
    """The `core` application: shared middleware, health endpoints and this service's routes.

    `make_chat_collaborators(settings)` gives the chat pipeline its retriever, guide and LLM:
    Serve handles in the cluster; by default local objects, made on the first chat.
    """
    from cortex.core.events import consume
    from cortex.core.remote import local_collaborators

    app = create_service_app("core", routers=[router], background=[consume])
    app.state.make_chat_collaborators = make_chat_collaborators or local_collaborators
    app.state.chat_collaborators = None
    return app

"""HTTP API of the `core` service (mounted under /api by Serve or the monolith)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from cortex.contracts.chat import Done
from cortex.core import schemas, sse
from cortex.core.answers import AnswerCache
from cortex.core.chat import ChatPipeline, Timeouts, finished
from cortex.core.service import BotService, ConversationService, ErasureService, HandoffService, ProfileService
from cortex.errors import Invalid, Unavailable
from cortex.http import create_service_app
from cortex.http.app import Readiness, ServiceResources
from cortex.http.security import Principal, require, require_visitor, require_visitor_or

router = APIRouter()


def service_pool(request: Request) -> asyncpg.Pool:
    """Core's connection pool (its own role) for a route's service; the `openai` door uses it too."""
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    return resources.db


async def bot_service(request: Request) -> BotService:
    return BotService(db=service_pool(request), redis=request.app.state.resources.redis)


async def conversation_service(request: Request) -> ConversationService:
    return ConversationService(db=service_pool(request))


async def handoff_service(request: Request) -> HandoffService:
    return HandoffService(db=service_pool(request))


async def profile_service(request: Request) -> ProfileService:
    return ProfileService(db=service_pool(request))


async def erasure_service(request: Request) -> ErasureService:
    return ErasureService(db=service_pool(request), settings=request.app.state.resources.settings)


Bots = Annotated[BotService, Depends(bot_service)]
Conversations = Annotated[ConversationService, Depends(conversation_service)]
Handoff = Annotated[HandoffService, Depends(handoff_service)]
Profiles = Annotated[ProfileService, Depends(profile_service)]
Erasure = Annotated[ErasureService, Depends(erasure_service)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Agent = Annotated[Principal, Depends(require("agent"))]
Admin = Annotated[Principal, Depends(require("admin"))]


@router.post("/bots", status_code=201, response_model=schemas.BotPublic, tags=["bots"])
async def create_bot(data: schemas.BotIn, principal: Admin, bots: Bots) -> schemas.BotPublic:
    return await bots.create_bot(principal, data)


@router.get("/bots", response_model=list[schemas.BotPublic], tags=["bots"])
async def list_bots(principal: Viewer, bots: Bots) -> list[schemas.BotPublic]:
    return await bots.list_bots(principal)


@router.get("/bots/{bot_id}", response_model=schemas.BotPublic, tags=["bots"])
async def get_bot(bot_id: uuid.UUID, principal: Viewer, bots: Bots) -> schemas.BotPublic:
    return await bots.get_bot(principal, bot_id)


@router.patch("/bots/{bot_id}", response_model=schemas.BotPublic, tags=["bots"])
async def update_bot(bot_id: uuid.UUID, data: schemas.BotUpdate, principal: Admin, bots: Bots) -> schemas.BotPublic:
    return await bots.update_bot(principal, bot_id, data)


@router.delete("/bots/{bot_id}", status_code=204, tags=["bots"])
async def delete_bot(bot_id: uuid.UUID, principal: Admin, bots: Bots) -> Response:
    await bots.delete_bot(principal, bot_id)
    return Response(status_code=204)


async def conversation_filters(
    bot_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[schemas.ConversationStatus | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="last message at or after")] = None,
    until: Annotated[datetime | None, Query(description="started before")] = None,
    rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    outcome: Annotated[schemas.Outcome | None, Query(description="labelled with this outcome")] = None,
    has_lead: Annotated[bool | None, Query(description="the visitor left an e-mail or phone number")] = None,
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
        "outcome": outcome,
        "has_lead": has_lead,
        "text": q,
        "limit": limit,
        "offset": offset,
    }


Filters = Annotated[dict, Depends(conversation_filters)]


@router.get("/conversations", response_model=list[schemas.ConversationPublic], tags=["conversations"])
async def list_conversations(
    principal: Viewer, conversations: Conversations, filters: Filters
) -> list[schemas.ConversationPublic]:
    return await conversations.list_conversations(principal, **filters)


@router.get("/conversations/export", tags=["conversations"])
async def export_conversations(
    principal: Admin, conversations: Conversations, filters: Filters, format: Literal["json", "csv"] = "json"
) -> Response:
    """Every matching conversation with its transcript, as JSON or CSV."""
    media_type, body = await conversations.export_conversations(principal, fmt=format, **filters)
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="conversations.{format}"',
        },
    )


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationDetail, tags=["conversations"])
async def get_conversation(
    conversation_id: uuid.UUID, principal: Viewer, conversations: Conversations
) -> schemas.ConversationDetail:
    return await conversations.get_conversation(principal, conversation_id)


@router.patch("/conversations/{conversation_id}", response_model=schemas.ConversationPublic, tags=["conversations"])
async def update_conversation(
    conversation_id: uuid.UUID, data: schemas.ConversationUpdate, principal: Agent, conversations: Conversations
) -> schemas.ConversationPublic:
    return await conversations.update_conversation(principal, conversation_id, data)


@router.delete("/conversations/{conversation_id}", status_code=204, tags=["conversations"])
async def delete_conversation(conversation_id: uuid.UUID, principal: Admin, conversations: Conversations) -> Response:
    await conversations.delete_conversation(principal, conversation_id)
    return Response(status_code=204)


# -- human handoff and live updates ------------------------------------------------------------------

# Reading a conversation takes a viewer; chatting creates one and takes an agent (a `reply` key);
# what only the visitor can say (a lead, a rating, asking for a person) takes the visitor.
Chatter = Annotated[Principal, Depends(require_visitor_or("viewer"))]
ChatWriter = Annotated[Principal, Depends(require_visitor_or("agent"))]
VisitorOnly = Annotated[Principal, Depends(require_visitor())]


@router.post("/conversations/{conversation_id}/takeover", response_model=schemas.ConversationPublic, tags=["handoff"])
async def take_over(conversation_id: uuid.UUID, principal: Agent, handoff: Handoff) -> schemas.ConversationPublic:
    """The caller (role agent or higher) handles the conversation; the bot stays quiet."""
    return await handoff.take_over(principal, conversation_id)


@router.post("/conversations/{conversation_id}/handback", response_model=schemas.ConversationPublic, tags=["handoff"])
async def hand_back(conversation_id: uuid.UUID, principal: Agent, handoff: Handoff) -> schemas.ConversationPublic:
    """The bot answers again."""
    return await handoff.hand_back(principal, conversation_id)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=schemas.MessagePublic,
    tags=["handoff"],
)
async def post_agent_message(
    conversation_id: uuid.UUID, data: schemas.AgentMessageIn, principal: Agent, handoff: Handoff
) -> schemas.MessagePublic:
    """An agent's reply in a handed-off conversation; the visitor sees it live."""
    return await handoff.post_agent_message(principal, conversation_id, data)


# -- visitor profiles ------------------------------------------------------------------------------


@router.get("/user-profiles", response_model=list[schemas.ProfilePublic], tags=["profiles"])
async def list_profiles(
    principal: Viewer,
    profiles: Profiles,
    has_email: Annotated[bool | None, Query(description="only profiles with (true) or without (false) e-mail")] = None,
    q: Annotated[
        str | None, Query(min_length=2, max_length=200, description="in name, e-mail, phone, company, visitor id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[schemas.ProfilePublic]:
    return await profiles.list_profiles(principal, has_email=has_email, text=q, limit=limit, offset=offset)


@router.post("/user-profiles", status_code=201, response_model=schemas.ProfilePublic, tags=["profiles"])
async def create_profile(data: schemas.ProfileIn, principal: Admin, profiles: Profiles) -> schemas.ProfilePublic:
    return await profiles.create_profile(principal, data)


@router.get("/user-profiles/{profile_id}", response_model=schemas.ProfilePublic, tags=["profiles"])
async def get_profile(profile_id: uuid.UUID, principal: Viewer, profiles: Profiles) -> schemas.ProfilePublic:
    return await profiles.get_profile(principal, profile_id)


@router.patch("/user-profiles/{profile_id}", response_model=schemas.ProfilePublic, tags=["profiles"])
async def update_profile(
    profile_id: uuid.UUID, data: schemas.ProfileUpdate, principal: Admin, profiles: Profiles
) -> schemas.ProfilePublic:
    return await profiles.update_profile(principal, profile_id, data)


@router.delete("/user-profiles/{profile_id}", status_code=204, tags=["profiles"])
async def delete_profile(profile_id: uuid.UUID, principal: Admin, profiles: Profiles) -> Response:
    """Removes the profile record; its conversations stay. For a GDPR erasure use /erase."""
    await profiles.delete_profile(principal, profile_id)
    return Response(status_code=204)


@router.get("/user-profiles/{profile_id}/export", response_model=schemas.ProfileExport, tags=["profiles"])
async def export_profile(profile_id: uuid.UUID, principal: Admin, profiles: Profiles) -> Response:
    """Everything held about the visitor as one JSON file (a GDPR access request)."""
    export = await profiles.export_profile(principal, profile_id)
    return Response(
        orjson.dumps(export.model_dump(mode="json")),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="profile-{profile_id}.json"'},
    )


@router.post("/user-profiles/{profile_id}/erase", response_model=schemas.ErasureResult, tags=["profiles"])
async def erase_profile(profile_id: uuid.UUID, principal: Admin, erasure: Erasure) -> schemas.ErasureResult:
    """GDPR erasure: the profile's personal fields, the visitor's messages ("[erased]") and personal
    values quoted in answers; announced as `visitor.erased`."""
    return await erasure.erase_profile(principal, profile_id)


async def chat_pipeline(request: Request) -> ChatPipeline:
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    state = request.app.state
    if getattr(state, "chat_collaborators", None) is None:
        if state.make_chat_collaborators is None:
            raise Unavailable("chat has no retriever, guide or LLM in this process")
        state.chat_collaborators = state.make_chat_collaborators(resources.settings)
    timeouts = Timeouts(
        retrieval_s=resources.settings.retrieval_timeout_s,
        guidance_s=resources.settings.guidance_timeout_s,
        booking_s=resources.settings.chat_booking_timeout_s,
    )
    cache_on = resources.settings.answer_cache_ttl_s > 0  # 0 turns the answer cache off
    if getattr(state, "answer_cache", None) is None and resources.redis is not None and cache_on:
        state.answer_cache = AnswerCache(
            resources.redis,
            similarity=resources.settings.answer_cache_similarity,
            ttl_s=resources.settings.answer_cache_ttl_s,
        )
    return ChatPipeline(
        db=resources.db,
        timeouts=timeouts,
        answer_cache=getattr(state, "answer_cache", None),
        default_backend="openai" if resources.settings.llm_url else "extractive",
        **state.chat_collaborators,
    )


Chat = Annotated[ChatPipeline, Depends(chat_pipeline)]


@router.post("/chat", tags=["chat"], response_model=schemas.ChatOut)
async def chat(data: schemas.ChatIn, principal: ChatWriter, pipeline: Chat) -> Any:
    """One turn of a conversation: server-sent events (token…, done) or, with stream=false, JSON."""
    events = pipeline.turn(principal, data)
    first = await anext(events)  # errors before the answer starts (404, …) are still plain JSON errors
    if not data.stream:
        done = await finished(events)
        return schemas.ChatOut.model_validate(
            {
                "conversation_id": done.conversation_id,
                "message_id": done.message_id or uuid.uuid4(),
                "content": done.content if isinstance(done, Done) else done.notice,
                "citations": done.citations,
                "actions": done.actions,
                "direct_answer": done.direct_answer,
                "degraded": done.degraded,
            }
        )

    async def frames() -> AsyncIterator[bytes]:
        yield sse.frame(first, event=first.event)
        async for event in events:
            yield sse.frame(event, event=event.event)

    return sse.response(frames())


@router.get("/chat/config", tags=["chat"], response_model=schemas.WidgetConfig)
async def widget_config(
    principal: Chatter,
    bots: Bots,
    bot_id: Annotated[uuid.UUID | None, Query(description="a visitor's token already names its bot")] = None,
) -> schemas.WidgetConfig:
    """What the widget shows of a bot: name, welcome message, language, appearance, lead fields."""
    bot = bot_id or principal.bot_id
    if bot is None:
        raise Invalid("bot_id is required")
    return await bots.widget_config(principal, bot)


@router.get("/chat/conversations/{conversation_id}", tags=["chat"], response_model=schemas.VisitorConversation)
async def visitor_conversation(
    conversation_id: uuid.UUID, principal: Chatter, conversations: Conversations
) -> schemas.VisitorConversation:
    """The visitor's own conversation again (after a page load): its status and last messages."""
    return await conversations.visitor_conversation(principal, conversation_id)


@router.post("/chat/feedback", tags=["chat"], response_model=schemas.MessagePublic)
async def rate_message(
    data: schemas.FeedbackIn, principal: VisitorOnly, conversations: Conversations
) -> schemas.MessagePublic:
    """Thumbs up (1) or down (-1) on a reply; null takes the rating back."""
    return await conversations.rate_message(principal, data)


@router.post("/chat/lead", tags=["chat"], response_model=schemas.LeadOut)
async def capture_lead(data: schemas.LeadIn, principal: VisitorOnly, profiles: Profiles) -> schemas.LeadOut:
    """The widget's lead form: contact details the visitor typed, kept on their profile."""
    return await profiles.capture_lead(principal, data)


@router.post("/chat/handoff", tags=["chat"], response_model=schemas.MessagePublic)
async def request_handoff(
    data: schemas.HandoffRequestIn, principal: VisitorOnly, handoff: Handoff
) -> schemas.MessagePublic:
    """The visitor asks for a person; the team sees the conversation marked `escalated`."""
    return await handoff.request_handoff(principal, data)


def create_app(
    make_chat_collaborators: Callable[..., dict[str, Any]] | None = None, checks: Sequence[Readiness] = ()
) -> FastAPI:
    """The `core` application: shared middleware, health endpoints and this service's routes.

    `make_chat_collaborators(settings)` gives the chat pipeline its retriever, guide and LLM, made on
    the first chat: Serve handles in the cluster (deployments/handles.py), local objects in one
    process (cortex/inprocess.py). Without it every route but chat works. `checks`: what /readyz
    also asks (in the cluster, the knowledge and helper deployments chat depends on, not required:
    chat answers without them, degraded).
    """
    from cortex.core.events import consume
    from cortex.core.service.closing import close_idle_conversations

    app = create_service_app("core", routers=[router], checks=checks, background=[consume, close_idle_conversations])
    app.state.make_chat_collaborators = make_chat_collaborators
    app.state.chat_collaborators = None
    return app

"""HTTP API of the `live` application: one long-lived SSE stream per open widget or transcript.

Its own Serve application, apart from core's chat ingress, because an open stream holds one of
its replica's `max_ongoing_requests` slots for its whole life: mixed into core, a few hundred
idle widgets filled every slot (4 replicas x 128: the 513th stream, and every chat turn after
it, waited) and drove core's autoscaler to its maximum for visitors who were only reading.
Here replicas take thousands of streams each and scale with how many are open. It works in
core's schema, with core's role, like the `openai` door (cortex/core/live.py does the work).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse

from cortex.core import live, sse
from cortex.core.api import Chatter
from cortex.http import create_service_app
from cortex.http.app import ServiceResources

router = APIRouter()


def live_hub(request: Request) -> live.LiveHub:
    """The replica's one subscription, started on the first stream."""
    state = request.app.state
    if getattr(state, "live_hub", None) is None:
        resources: ServiceResources = state.resources
        assert resources.redis is not None
        state.live_hub = live.LiveHub(resources.redis)
        resources.spawn(state.live_hub.run(resources.stopping), name="live-hub")
    return state.live_hub


@router.get("/conversations/{conversation_id}/stream", tags=["live"], response_class=StreamingResponse)
async def stream_conversation(
    conversation_id: uuid.UUID,
    request: Request,
    principal: Chatter,
    after: Annotated[
        str | None, Query(max_length=64, description="resume after this message id or ISO time; 'start': all")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Server-sent events of one conversation as they happen: `status` first, then `message`s.

    The visitor's token for this conversation, or a member of the workspace. Each message event
    carries its id; a reconnect with `Last-Event-ID` (or `?after=`) replays what was missed. A
    `: keep-alive` comment comes every 15 s; the stream ends after ~100 s and the client resumes.
    """
    resources: ServiceResources = request.app.state.resources
    assert resources.db is not None
    events = await live.open_stream(
        resources.db,
        principal,
        conversation_id,
        cursor_text=last_event_id or after,
        hub=live_hub(request),
        heartbeat_s=resources.settings.live_heartbeat_s,
        max_duration_s=resources.settings.live_stream_max_s,
    )
    return sse.response(events)


def create_app() -> FastAPI:
    """The `live` application: shared middleware, health endpoints and the stream route."""
    # Streams only read: core's replicas publish core's outbox, this one need not wake for it.
    return create_service_app("live", routers=[router], schema="core", relay=False)

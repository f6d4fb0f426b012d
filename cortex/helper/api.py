"""HTTP API of the `helper` service (mounted under its route prefix by Serve or the monolith)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response

from cortex.helper import schemas
from cortex.helper.analysis import Stage
from cortex.helper.classifier import Intent
from cortex.helper.service import Embed, HelperService, no_embedder
from cortex.http import create_service_app
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require

router = APIRouter()


async def helper_service(request: Request) -> HelperService:
    state = request.app.state
    if state.helper is None:
        resources: ServiceResources = state.resources
        state.helper = HelperService(resources, embed=state.make_embed())
    return state.helper


Service = Annotated[HelperService, Depends(helper_service)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
MetricQuery = Annotated[
    schemas.Metric | None, Query(description="count successes for this goal (default: the bot's goal)")
]


# -- the live decision, on request ------------------------------------------------------------------------


@router.post("/analyze", response_model=schemas.AnalysisPublic, tags=["analysis"])
async def analyze(data: schemas.AnalyzeIn, principal: Viewer, service: Service) -> schemas.AnalysisPublic:
    """What the helper sees in a message: intent, stage, sentiment, frustration, churn risk, buying and
    booking signals, missing facts (the message embedded by the Embedder, as in a chat turn)."""
    return await service.analyze(principal, data)


@router.post("/guidance", response_model=schemas.GuidanceOut, tags=["analysis"])
async def guidance(data: schemas.GuidanceIn, principal: Viewer, service: Service) -> schemas.GuidanceOut:
    """The analysis and the guidance the Guide would give the bot now (nothing is recorded)."""
    return await service.guidance(principal, data)


# -- patterns -------------------------------------------------------------------------------------------


@router.get("/patterns", response_model=list[schemas.PatternPublic], tags=["patterns"])
async def list_patterns(
    principal: Viewer,
    service: Service,
    status: schemas.PatternStatus | None = None,
    bot_id: Annotated[uuid.UUID | None, Query(description="patterns that apply to this bot")] = None,
    intent: Intent | None = None,
    stage: Stage | None = None,
    metric: MetricQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[schemas.PatternPublic]:
    """Patterns with their statistics, best first by the lower bound of the 95 % Wilson interval."""
    return await service.list_patterns(
        principal,
        status=status,
        bot_id=bot_id,
        intent=intent,
        stage=stage,
        metric=metric,
        limit=limit,
        offset=offset,
    )


@router.post("/patterns", status_code=201, response_model=schemas.PatternPublic, tags=["patterns"])
async def create_pattern(data: schemas.PatternCreate, principal: Admin, service: Service) -> schemas.PatternPublic:
    """A strategy for a situation (its example embedded), for the workspace or one bot."""
    return await service.create_pattern(principal, data)


@router.post("/patterns/import", status_code=201, response_model=schemas.PatternImportOut, tags=["patterns"])
async def import_patterns(
    principal: Admin,
    service: Service,
    rows: Annotated[list[Any], Body(description=f"up to {schemas.MAX_IMPORT_ROWS} patterns, as POST /patterns takes")],
) -> schemas.PatternImportOut:
    """Import a JSON list of patterns: all of them, or none (422 names each bad row by its index)."""
    patterns = await service.import_patterns(principal, rows)
    return schemas.PatternImportOut(imported=len(patterns), patterns=patterns)


@router.get("/patterns/{pattern_id}", response_model=schemas.PatternPublic, tags=["patterns"])
async def get_pattern(
    pattern_id: uuid.UUID, principal: Viewer, service: Service, metric: MetricQuery = None
) -> schemas.PatternPublic:
    return await service.get_pattern(principal, pattern_id, metric=metric)


@router.patch("/patterns/{pattern_id}", response_model=schemas.PatternPublic, tags=["patterns"])
async def update_pattern(
    pattern_id: uuid.UUID, data: schemas.PatternUpdate, principal: Admin, service: Service
) -> schemas.PatternPublic:
    """Change a pattern; retiring (or re-scoping) one that a running experiment tests is a 409."""
    return await service.update_pattern(principal, pattern_id, data)


@router.delete("/patterns/{pattern_id}", status_code=204, tags=["patterns"])
async def delete_pattern(pattern_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    """Delete a pattern and its statistics (409 while a running experiment tests it)."""
    await service.delete_pattern(principal, pattern_id)
    return Response(status_code=204)


# -- experiments ----------------------------------------------------------------------------------------


@router.get("/experiments", response_model=list[schemas.ExperimentPublic], tags=["experiments"])
async def list_experiments(
    principal: Viewer,
    service: Service,
    status: schemas.ExperimentStatus | None = None,
    bot_id: Annotated[uuid.UUID | None, Query(description="experiments that cover this bot")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Offset = 0,
) -> list[schemas.ExperimentPublic]:
    """Experiments, newest first, each with its live results."""
    return await service.list_experiments(principal, status=status, bot_id=bot_id, limit=limit, offset=offset)


@router.post("/experiments", status_code=201, response_model=schemas.ExperimentPublic, tags=["experiments"])
async def create_experiment(
    data: schemas.ExperimentCreate, principal: Admin, service: Service
) -> schemas.ExperimentPublic:
    """Start an experiment now: visitors are assigned to its arms (sticky) from their next turn."""
    return await service.create_experiment(principal, data)


@router.get("/experiments/{experiment_id}", response_model=schemas.ExperimentPublic, tags=["experiments"])
async def get_experiment(experiment_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.ExperimentPublic:
    """The experiment with its live results: per arm, the effect with its always-valid interval, the verdict."""
    return await service.get_experiment(principal, experiment_id)


@router.post("/experiments/{experiment_id}/stop", response_model=schemas.ExperimentPublic, tags=["experiments"])
async def stop_experiment(experiment_id: uuid.UUID, principal: Admin, service: Service) -> schemas.ExperimentPublic:
    return await service.stop_experiment(principal, experiment_id)


@router.post("/experiments/{experiment_id}/promote", response_model=schemas.ExperimentPublic, tags=["experiments"])
async def promote_experiment(
    experiment_id: uuid.UUID,
    principal: Admin,
    service: Service,
    data: Annotated[schemas.PromoteIn | None, Body()] = None,
) -> schemas.ExperimentPublic:
    """Promote the declared winner (or the arm named): the experiment stops, the arm's pattern goes
    active, the other arms' patterns retire."""
    return await service.promote_experiment(principal, experiment_id, arm=data.arm if data else None)


# -- per bot and per conversation -----------------------------------------------------------------------


@router.get("/bots/{bot_id}/settings", response_model=schemas.BotSettingsPublic, tags=["settings"])
async def get_bot_settings(bot_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.BotSettingsPublic:
    return await service.get_settings(principal, bot_id)


@router.put("/bots/{bot_id}/settings", response_model=schemas.BotSettingsPublic, tags=["settings"])
async def put_bot_settings(
    bot_id: uuid.UUID, data: schemas.BotSettingsIn, principal: Admin, service: Service
) -> schemas.BotSettingsPublic:
    """Whether the helper steers the bot, and the outcome its learning optimises."""
    return await service.put_settings(principal, bot_id, data)


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationView, tags=["conversations"])
async def get_conversation(conversation_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.ConversationView:
    """What the helper saw and advised per turn, and the guidance each bot message carried."""
    return await service.conversation(principal, conversation_id)


def create_app(make_embed: Callable[[], Embed] | None = None) -> FastAPI:
    """The `helper` application: shared middleware, health endpoints, this service's routes, its event
    consumer (cortex.helper.events) and its background loops. `make_embed()`: the Embedder for
    /analyze, /guidance and pattern examples."""
    from cortex.helper.events import consume, prune_advice_log
    from cortex.helper.mining_api import router as mining_router
    from cortex.helper.mining_api import run_mining_schedule
    from cortex.helper.promotion import promote_loop

    app = create_service_app(
        "helper",
        routers=[router, mining_router],
        background=[consume, prune_advice_log, promote_loop, run_mining_schedule],
    )
    # The Embedder's handle on Serve, the model in one process (cortex/inprocess.py); without it the
    # routes exist (cortex/routes.py walks them) but /analyze, /guidance and pattern examples answer 503.
    app.state.make_embed = make_embed or (lambda: no_embedder)
    app.state.helper = None
    return app

"""The `workflows` Serve application: its FastAPI ingress and the Scheduler that runs the chat's
booking conversations (core calls `Scheduler.converse` by name through a handle)."""

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.contracts.booking import BookingRequest, BookingTurn
from cortex.settings import get_settings
from cortex.workflows.api import create_app
from cortex.workflows.runs import Scheduler as RunScheduler
from deployments._ingress import ServiceIngress, as_deployment
from graphs.scheduling.graph import make_graph

log = logging.getLogger("cortex.workflows")
# How long a new Scheduler replica waits for its pools before it serves without them (the first
# turn then opens them).
WARM_START_S = 10.0


@serve.deployment
class Scheduler:
    """The chat's booking turns: each resumes the conversation's LangGraph run from its Postgres
    checkpoint, so any replica continues any run."""

    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits an async constructor
        self.scheduler = RunScheduler(get_settings(), make_graph=make_graph)
        # Pools, the graph and the date reader's data (dateparser's import and first parse take
        # ~0.4 s) are ready before the first turn, which has core's booking timeout.
        try:
            await asyncio.wait_for(self.scheduler.start(), timeout=WARM_START_S)
        except Exception as exc:  # noqa: BLE001 - the replica starts; the first turn opens the pools
            log.warning("the Scheduler starts without its pools: %r", exc)

    async def converse(self, request: BookingRequest) -> BookingTurn:
        return await self.scheduler.converse(request)

    async def ready(self) -> None:
        """Raises when the runs or the checkpoints cannot be read (core's /readyz asks)."""
        await self.scheduler.ready()

    async def __del__(self) -> None:
        """On a graceful shutdown: the pools are closed."""
        await self.scheduler.close()


@serve.deployment
@serve.ingress()
class WorkflowsAPI(ServiceIngress):
    """Ingress of the `workflows` application; its /workflows routes run the scheduling graph too."""

    def __init__(self, scheduler: DeploymentHandle) -> None:
        """`scheduler` is bound only so Serve deploys the Scheduler in this application; core calls it by name."""

    def __serve_build_asgi_app__(self) -> Any:
        self.api: FastAPI = create_app(make_graph=make_graph)
        return self.api


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(WorkflowsAPI).bind(scheduler=as_deployment(Scheduler).bind())

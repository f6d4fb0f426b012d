"""HTTP API of the `workflows` service (mounted under its route prefix by Serve or the monolith).

Each part of the service brings its router, background loops and event consumers; this module only
composes them. The scheduling graph lives in graphs/ (which the library may not import): the
deployment passes its factory in as `make_graph`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI

from cortex.http import create_service_app
from cortex.mail import deliver_queued_mail
from cortex.workflows.calendars.api import router as calendars_router
from cortex.workflows.events import consume as consume_events
from cortex.workflows.notify.links import router as links_router
from cortex.workflows.notify.tasks import run_tasks
from cortex.workflows.notify.tasks_api import router as tasks_router
from cortex.workflows.runs_api import router as runs_router
from cortex.workflows.scheduling.api import router as schedule_router
from cortex.workflows.scheduling.bots import consume_bots

router = APIRouter()

# Each part's routers, background loops and event consumers (owners add theirs here).
ROUTERS: list[APIRouter] = [router, schedule_router]
BACKGROUND: list[Any] = [consume_bots]

# Notifications: the mailed links' pages, the tasks API, the task loop, the mail queue, the events consumer.
ROUTERS += [links_router, tasks_router]
BACKGROUND += [run_tasks, deliver_queued_mail, consume_events]

# Connected calendars: the connections API (busy time and event writes are called by scheduling).
ROUTERS += [calendars_router]

# Workflow runs: the definitions, and the runs (list, start, state and history, resume, cancel).
ROUTERS += [runs_router]


def create_app(make_graph: Callable[..., Any] | None = None) -> FastAPI:
    """The `workflows` application: shared middleware, health endpoints and this service's routes.
    `make_graph(checkpointer)` builds the scheduling graph (deployments/workflows.py passes it)."""
    app = create_service_app("workflows", routers=ROUTERS, background=BACKGROUND)
    app.state.make_graph = make_graph
    return app

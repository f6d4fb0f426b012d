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

router = APIRouter()

# Each part's routers, background loops and event consumers (owners add theirs here).
ROUTERS: list[APIRouter] = [router]
BACKGROUND: list[Any] = []


def create_app(make_graph: Callable[..., Any] | None = None) -> FastAPI:
    """The `workflows` application: shared middleware, health endpoints and this service's routes.
    `make_graph(checkpointer)` builds the scheduling graph (deployments/workflows.py passes it)."""
    app = create_service_app("workflows", routers=ROUTERS, background=BACKGROUND)
    app.state.make_graph = make_graph
    return app

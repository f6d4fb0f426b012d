"""HTTP API of the `helper` service (mounted under its route prefix by Serve or the monolith)."""

from fastapi import APIRouter, FastAPI

from cortex.http import create_service_app

router = APIRouter()


def create_app() -> FastAPI:
    """The `helper` application: shared middleware, health endpoints, this service's routes, and its
    consumer of `visitor.erased` (cortex.helper.events)."""
    from cortex.helper.events import consume

    return create_service_app("helper", routers=[router], background=[consume])

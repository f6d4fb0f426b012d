"""HTTP API of the `marketing` service (mounted under its route prefix by Serve or the monolith)."""

from fastapi import APIRouter, FastAPI

from cortex.http import create_service_app

router = APIRouter()


def create_app() -> FastAPI:
    """The `marketing` application: shared middleware, health endpoints and this service's routes."""
    from cortex.marketing.events import consume

    return create_service_app("marketing", routers=[router], background=[consume])

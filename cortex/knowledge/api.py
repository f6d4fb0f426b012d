"""HTTP API of the `knowledge` service (mounted under its route prefix by Serve or the monolith)."""

from fastapi import APIRouter, FastAPI

from cortex.http import Readiness, create_service_app
from cortex.http.app import ServiceResources

router = APIRouter()


async def check_chroma(resources: ServiceResources) -> None:
    """Chroma answers its heartbeat."""
    assert resources.http is not None
    response = await resources.http.get(f"{resources.settings.resolved_chroma_url()}/api/v2/heartbeat")
    response.raise_for_status()


def create_app() -> FastAPI:
    """The `knowledge` application: shared middleware, health endpoints and this service's routes."""
    return create_service_app("knowledge", routers=[router], checks=[Readiness("chroma", check_chroma)])

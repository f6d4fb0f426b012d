"""HTTP API of the `analytics` service (mounted under its route prefix by Serve or the monolith)."""

from fastapi import APIRouter, FastAPI

from cortex.http import create_service_app

router = APIRouter()


def create_app() -> FastAPI:
    """The `analytics` application: shared middleware, health endpoints and this service's routes."""
    return create_service_app("analytics", routers=[router])

"""The FastAPI app factory every service uses: middleware, errors, health, shared resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cortex import __version__
from cortex.bus import Consumer, Handler, OutboxRelay, stream_for
from cortex.db import create_pool
from cortex.http.errors import error_response, install_error_handlers
from cortex.http.middleware import RequestContextMiddleware
from cortex.http.responses import FastJSONResponse
from cortex.http.security import Authenticator, public
from cortex.logs import configure_logging
from cortex.settings import APPLICATIONS, SCHEMAS, Settings, get_settings

log = logging.getLogger("cortex.http")

# A readiness probe must answer before Kubernetes' default 1 s probe timeout expires even when
# a dependency hangs, so each check gets well under a second.
READINESS_CHECK_TIMEOUT_S = 0.8


@dataclass(frozen=True)
class Readiness:
    """A named dependency check: raises (or times out) when the dependency is unusable.

    A `required` dependency down makes the replica not ready (503: take it out of rotation). One
    that is not required is something the service answers without, worse (chat without the
    helper's guidance, or without knowledge): /readyz stays 200 and says `degraded`, naming it,
    so an operator sees the outage while the load balancer keeps sending traffic."""

    name: str
    check: Callable[[ServiceResources], Awaitable[object]]
    required: bool = True


class ServiceResources:
    """What one replica of a service holds: its Postgres pool, a Redis client, background tasks."""

    def __init__(self, service: str, settings: Settings, *, schema: str | None = None, relay: bool = True) -> None:
        self.service = service
        self.settings = settings
        self.schema = schema or (service if service in SCHEMAS else None)
        self.relay = relay
        self.db: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.http: httpx.AsyncClient | None = None
        self.authenticator: Authenticator | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # One pooled HTTP client per replica for calls to other systems (Chroma, webhooks, …).
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
        self.redis = aioredis.Redis.from_url(
            self.settings.resolved_redis_url(),
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        self.authenticator = Authenticator(self.redis, self.settings)
        if self.schema:
            self.db = await create_pool(
                self.settings.service_database_url(self.schema), self.settings, schema=self.schema
            )
            if self.relay:
                relay = OutboxRelay(
                    pool=self.db,
                    redis=self.redis,
                    schema=self.schema,
                    poll_interval_s=self.settings.bus_poll_interval_s,
                )
                self.spawn(relay.run(self._stop), name=f"outbox-relay-{self.schema}")

    @property
    def stopping(self) -> asyncio.Event:
        """Set when the replica shuts down: background loops wait on it."""
        return self._stop

    def spawn(self, coro: Awaitable[None], *, name: str) -> None:
        """Run a background loop for the replica's lifetime; its death fails the health check."""
        self._tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]

    async def consume(self, *, group: str, event_types: Sequence[str], handler: Handler) -> None:
        """Run this service's consumer group over those events' streams until shutdown."""
        assert self.db is not None and self.redis is not None and self.schema is not None
        consumer = Consumer(
            pool=self.db,
            redis=self.redis,
            schema=self.schema,
            group=group,
            streams=sorted({stream_for(event_type) for event_type in event_types}),
            handler=handler,
            event_types=event_types,
            max_deliveries=self.settings.bus_max_deliveries,
            retry_base_s=self.settings.bus_retry_base_s,
        )
        await consumer.run(self._stop)

    def raise_if_broken(self) -> None:
        """For Serve's check_health: a dead background loop means the replica must be replaced."""
        for task in self._tasks:
            if task.done():
                error = task.exception() if not task.cancelled() else None
                raise RuntimeError(f"background task {task.get_name()} stopped: {error!r}")

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
        if self.db is not None:
            await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.http is not None:
            await self.http.aclose()


async def _check_postgres(resources: ServiceResources) -> object:
    assert resources.db is not None
    return await resources.db.fetchval("SELECT 1")


async def _check_redis(resources: ServiceResources) -> object:
    assert resources.redis is not None
    return await resources.redis.ping()


class PathCORSMiddleware:
    """CORS for the owner APIs (configured origins), and open CORS for a few public endpoints."""

    def __init__(self, app: ASGIApp, /, *, open_paths: tuple[str, ...], **options: Any) -> None:
        self.open_paths = open_paths
        self.owner = CORSMiddleware(app, **options)
        self.open = CORSMiddleware(app, **{**options, "allow_origins": ["*"]})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        cors = self.open if self.open_paths and path.rstrip("/").endswith(self.open_paths) else self.owner
        await cors(scope, receive, send)


def create_service_app(
    service: str,
    *,
    routers: Sequence[APIRouter] = (),
    checks: Sequence[Readiness] = (),
    background: Sequence[Callable[[ServiceResources], Awaitable[None]]] = (),
    settings: Settings | None = None,
    schema: str | None = None,
    max_body_bytes: int | None = None,
    open_cors_paths: Sequence[str] = (),
    relay: bool = True,
) -> FastAPI:
    """A service's FastAPI ingress: shared middleware, error envelope, healthz/readyz, docs.

    `schema`: the Postgres schema the application works in when it is not the service's own
    (the `openai` application is a second door into `core` and uses core's schema and role).
    `max_body_bytes`: a larger request body limit for an application that takes uploads.
    `open_cors_paths`: endpoints any site's pages may call (path suffixes): the widget's token
    exchange, which checks the caller's Origin against the widget key itself. Bearer tokens,
    never cookies, so answering any origin gives a page nothing it could not fetch anyway.
    `relay`: publish the schema's outbox from this application's replicas; off for an application
    that writes no events (its schema's own service publishes them).
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    prefix = APPLICATIONS[service]
    schema = schema or (service if service in SCHEMAS else None)
    all_checks: list[Readiness] = []
    if schema:
        all_checks.append(Readiness("postgres", _check_postgres))
    all_checks.append(Readiness("redis", _check_redis))
    all_checks.extend(checks)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = ServiceResources(service, settings, schema=schema, relay=relay)
        await resources.start()
        for loop in background:
            resources.spawn(loop(resources), name=getattr(loop, "__name__", "background"))
        app.state.resources = resources
        try:
            yield
        finally:
            await resources.stop()

    app = FastAPI(
        title=f"Cortex {service}",
        version=__version__,
        description=f"The `{service}` service of Cortex, served under `{prefix}`.",
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(
        PathCORSMiddleware,
        open_paths=tuple(open_cors_paths),
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    # Added last so it runs first: the request id exists before anything else can log or fail.
    app.add_middleware(RequestContextMiddleware, max_body_bytes=max_body_bytes or settings.max_body_bytes)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers", dependencies=[Depends(public)])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["health"], summary="Readiness: every dependency answers", dependencies=[Depends(public)])
    async def readyz(request: Request) -> FastJSONResponse:
        resources: ServiceResources = request.app.state.resources
        results = await asyncio.gather(*(_run_check(service, check, resources) for check in all_checks))
        status = {check.name: result for check, result in zip(all_checks, results, strict=True)}
        failing = [check.name for check in all_checks if check.required and status[check.name] != "ok"]
        if failing:
            return error_response(
                503,
                f"not ready: {', '.join(f'{name} ({status[name]})' for name in failing)}",
                code="not_ready",
                details={"checks": status},
            )
        degraded = [check.name for check in all_checks if status[check.name] != "ok"]
        body: dict[str, Any] = {"status": "degraded" if degraded else "ready", "service": service, "checks": status}
        if degraded:
            body["degraded"] = degraded
        return FastJSONResponse(body)

    for router in routers:
        app.include_router(router)
    return app


async def _run_check(service: str, check: Readiness, resources: ServiceResources) -> str:
    """The check's result: ok, timed out or unavailable. /readyz is public, so an exception's text
    (a host, a role name, a DSN in a driver's message) goes to the log, never into the answer."""
    try:
        await asyncio.wait_for(check.check(resources), timeout=READINESS_CHECK_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness: %s's %s check timed out", service, check.name)
        return "timed out"
    except Exception as exc:  # noqa: BLE001 - any failure is reported by name, not raised
        log.warning("readiness: %s's %s check failed: %s: %s", service, check.name, type(exc).__name__, exc)
        return "unavailable"
    return "ok"

"""The monolith baseline: every service's app mounted in one FastAPI app.

Same code, same Postgres and Redis as the Serve build: the fair baseline the benchmarks compare
Serve with, run by uvicorn with a worker per core (bench/load.py `running_monolith`; one process is
kept as a second row), its questions embedded with the Embedder deployment's batching (LocalEmbed).
Run: ``uvicorn bench.monolith:app --workers N`` with the stack's CORTEX_* environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.routing import Mount

from cortex.inprocess import create_app
from cortex.settings import APPLICATIONS


def create_monolith() -> FastAPI:
    """One app; each service keeps its own lifespan (pool, Redis, background loops)."""
    services = {name: create_app(name) for name in APPLICATIONS}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for service in services.values():
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield

    monolith = FastAPI(title="Cortex monolith (benchmark baseline)", lifespan=lifespan, docs_url=None)
    # Longest prefix first, as the Serve proxy routes.
    for name, prefix in sorted(APPLICATIONS.items(), key=lambda item: -len(item[1])):
        monolith.router.routes.append(Mount("" if prefix == "/" else prefix, app=services[name]))
    return monolith


app = create_monolith()

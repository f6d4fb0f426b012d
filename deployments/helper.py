"""The `helper` Serve application: its ingress and the Guide the chat pipeline consults."""

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.contracts import Guidance
from cortex.helper.api import create_app
from cortex.helper.guide import Guide as HelperGuide
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress, as_deployment
from deployments.handles import RemoteEmbed

log = logging.getLogger("cortex.helper")
# How long a new Guide replica waits for its database pool before it serves without it.
WARM_START_S = 10.0


@serve.deployment
class Guide:
    """Guidance for a live conversation (reached from core through a cross-application handle): each
    turn analysed with the analyser loaded here at start, its analysis cached per conversation in Redis,
    the bot's patterns, experiments and statistics cached per replica, the advice logged in batches."""

    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits an async constructor
        self.guide = HelperGuide(get_settings())
        # The pool opens now, not in a visitor's first turn (that turn has core's 0.3 s): a
        # database that is down only makes the first turns wait for it as before.
        try:
            await asyncio.wait_for(self.guide.pool(), timeout=WARM_START_S)
        except Exception as exc:  # noqa: BLE001 - the replica starts; the first turn opens the pool
            log.warning("the Guide starts without its database pool: %r", exc)

    async def advise(self, **kwargs: Any) -> Guidance:
        return await self.guide.advise(**kwargs)

    async def ready(self) -> None:
        """Raises when the Guide cannot reach its database or Redis (core's /readyz asks)."""
        pool = await self.guide.pool()
        await pool.fetchval("SELECT 1")
        await self.guide.cache.redis.ping()

    async def __del__(self) -> None:
        """On a graceful shutdown: the advice log's queue is written, the pool closed."""
        await self.guide.close()


@serve.deployment
@serve.ingress()
class HelperAPI(ServiceIngress):
    """Ingress of the `helper` application; /analyze, /guidance and pattern examples embed through
    knowledge's Embedder (a cross-application handle, as core's chat does)."""

    def __init__(self, guide: DeploymentHandle) -> None:
        """`guide` is bound only so Serve deploys the Guide in this application; core calls it by name."""

    def __serve_build_asgi_app__(self) -> Any:
        self.api = create_app(
            make_embed=lambda: RemoteEmbed(serve.get_deployment_handle("Embedder", app_name="knowledge"))
        )
        return self.api


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(HelperAPI).bind(guide=as_deployment(Guide).bind())

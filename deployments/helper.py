"""The `helper` Serve application: its ingress and the Guide the chat pipeline consults."""

from dataclasses import asdict
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.helper.api import create_app
from cortex.helper.guide import Guide as HelperGuide
from deployments._ingress import ServiceIngress


@serve.deployment
class Guide:
    """Guidance for a live conversation (reached from core through a cross-application handle)."""

    def __init__(self) -> None:
        self.guide = HelperGuide()

    async def advise(self, **kwargs: Any) -> dict[str, Any]:
        return asdict(await self.guide.advise(**kwargs))


@serve.deployment
@serve.ingress()
class HelperAPI(ServiceIngress):
    """Ingress of the `helper` application."""

    create_app = staticmethod(create_app)

    def __init__(self, guide: DeploymentHandle) -> None:
        self.guide = guide


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return HelperAPI.bind(guide=Guide.bind())

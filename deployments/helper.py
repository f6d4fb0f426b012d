"""The `helper` Serve application: its ingress and the Guide the chat pipeline consults."""

from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.contracts import Guidance
from cortex.helper.api import create_app
from cortex.helper.guide import Guide as HelperGuide
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress, as_deployment


@serve.deployment
class Guide:
    """Guidance for a live conversation (reached from core through a cross-application handle): each
    turn analysed with the analyser loaded here at start, its analysis cached per conversation in Redis."""

    def __init__(self) -> None:
        self.guide = HelperGuide(get_settings())

    async def advise(self, **kwargs: Any) -> Guidance:
        return await self.guide.advise(**kwargs)


@serve.deployment
@serve.ingress()
class HelperAPI(ServiceIngress):
    """Ingress of the `helper` application."""

    create_app = staticmethod(create_app)

    def __init__(self, guide: DeploymentHandle) -> None:
        """`guide` is bound only so Serve deploys the Guide in this application; core calls it by name."""


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(HelperAPI).bind(guide=as_deployment(Guide).bind())

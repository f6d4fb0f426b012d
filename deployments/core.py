"""The `core` Serve application: its FastAPI ingress."""

from ray import serve
from ray.serve import Application

from cortex.core.api import create_app
from deployments._ingress import ServiceIngress


@serve.deployment
@serve.ingress()
class CoreAPI(ServiceIngress):
    """Ingress of the `core` application."""

    create_app = staticmethod(create_app)


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return CoreAPI.bind()

"""The `live` Serve application: open conversation streams, apart from core's chat ingress."""

from ray import serve
from ray.serve import Application

from cortex.core.live_api import create_app
from deployments._ingress import ServiceIngress, as_deployment


@serve.deployment
@serve.ingress()
class LiveAPI(ServiceIngress):
    """Ingress of the `live` application; each replica holds thousands of idle SSE streams."""

    create_app = staticmethod(create_app)


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(LiveAPI).bind()

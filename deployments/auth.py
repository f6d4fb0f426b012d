"""The `auth` Serve application: its FastAPI ingress."""

from ray import serve
from ray.serve import Application

from cortex.auth.api import create_app
from deployments._ingress import ServiceIngress, as_deployment


@serve.deployment
@serve.ingress()
class AuthAPI(ServiceIngress):
    """Ingress of the `auth` application."""

    create_app = staticmethod(create_app)


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(AuthAPI).bind()

"""The shape every service ingress deployment shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from fastapi import FastAPI
from ray.serve import Deployment


def as_deployment(cls: type) -> Deployment:
    """A ``@serve.deployment`` class as the Deployment it is at run time.

    mypy does not apply class decorators (python/mypy#3135) and still sees the plain class.
    """
    return cast(Deployment, cls)


class ServiceIngress:
    """Base of a service's FastAPI ingress deployment.

    The FastAPI app is built on the replica (``__serve_build_asgi_app__``), not at import
    time, so importing a deployment module never reads settings or opens connections.
    """

    create_app: Callable[[], FastAPI]

    def __serve_build_asgi_app__(self) -> FastAPI:
        self.api = type(self).create_app()
        return self.api

    def check_health(self) -> None:
        """Raise when the replica can no longer serve (Serve then replaces it)."""
        resources = getattr(self.api.state, "resources", None)
        if resources is not None:
            resources.raise_if_broken()

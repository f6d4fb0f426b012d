"""The shared ingress stack every Serve application (and the monolith) installs."""

from cortex.http.app import Readiness, create_service_app

__all__ = ["Readiness", "create_service_app"]

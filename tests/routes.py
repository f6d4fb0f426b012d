"""Every HTTP route of every application, for the tests that must walk them all."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from cortex.http.security import policy_of
from cortex.settings import APPLICATIONS


@dataclass(frozen=True)
class Route:
    app: str
    path: str  # full path through the gateway
    method: str
    route: APIRoute

    @property
    def policy(self) -> str | None:
        return _find_policy(self.route.dependant)


def _find_policy(dependant: Any) -> str | None:
    for dependency in dependant.dependencies:
        policy = policy_of(dependency.call) or _find_policy(dependency)
        if policy:
            return policy
    return None


def create_app(app_name: str) -> FastAPI:
    return importlib.import_module(f"cortex.{app_name}.api").create_app()


def all_routes() -> Iterator[Route]:
    for app_name, prefix in APPLICATIONS.items():
        app = create_app(app_name)
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute):
                continue  # docs and openapi.json: FastAPI's own, always public
            base = "" if prefix == "/" else prefix
            for method in sorted(context.methods or route.methods):
                yield Route(app_name, base + (context.path or route.path), method, route)

"""The route table in docs/api.md is generated from the applications' routes and kept current."""

from __future__ import annotations

from cortex import routes
from cortex.settings import APPLICATIONS


def test_every_application_names_the_module_that_builds_its_ingress() -> None:
    assert set(routes.INGRESS_MODULES) == set(APPLICATIONS)


def test_the_route_table_in_the_api_docs_is_current() -> None:
    committed = routes.DOC.read_text()
    assert routes.update(committed) == committed, f"docs/api.md's route table is out of date; run: {routes.COMMAND}"


def test_every_route_is_in_the_table_with_its_policy_and_handler() -> None:
    committed = routes.DOC.read_text()
    for route in routes.all_routes():
        file, function = route.handler
        assert f"`{route.path}` | `{route.policy}` |" in committed
        assert f"`{file}`" in committed and f"`{function}`" in committed

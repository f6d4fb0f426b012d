"""A route without an explicit access policy is a defect: this walk finds it."""

from __future__ import annotations

from cortex.routes import all_routes


def test_every_route_of_every_application_declares_a_policy() -> None:
    routes = list(all_routes())
    assert len(routes) > 30, "the walk must see the real routes"
    missing = [f"{r.method} {r.path}" for r in routes if r.policy is None]
    assert not missing, f"routes without Depends(public) or Depends(require(...)): {missing}"


def test_only_entry_points_are_public() -> None:
    public = {f"{r.method} {r.path}" for r in all_routes() if r.policy == "public"}
    allowed_public_suffixes = (
        "/healthz",
        "/readyz",
        "/register",
        "/login",
        "/refresh",
        "/jwks.json",
        "/visitor-token",
        "/oidc/providers",
        "/login",
        "/callback",
    )
    # The widget application serves static pages and files only: public by nature, no data.
    pages = ("/", "/dashboard", "/demo", "/embed.js", "/preview", "/widget", "/static/{version}/{path:path}")
    static_pages = {f"{method} {page}" for page in pages for method in ("GET", "HEAD")}
    unexpected = sorted(p for p in public - static_pages if not p.endswith(allowed_public_suffixes))
    assert not unexpected, f"public routes that should require a role: {unexpected}"

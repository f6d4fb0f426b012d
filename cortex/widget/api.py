"""HTTP API of the `widget` service: the embed loader, the chat UI, the preview and the dashboard.

All static, from `web/` (see `assets`): the loader at a stable URL with a short cache, everything
it pulls in at a versioned URL cached for a year. The data these pages show comes from the other
services' APIs on the same origin (the bot's public config from core's `/api/chat/config`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.responses import RedirectResponse
from starlette.middleware.gzip import GZipMiddleware

from cortex.errors import NotFound
from cortex.http import create_service_app
from cortex.http.security import public
from cortex.widget.assets import Asset, Assets

router = APIRouter(dependencies=[Depends(public)])

YEAR_S = 365 * 24 * 3600
# The loader's URL never changes (it is pasted into customers' sites), so its cache is short:
# a release reaches every site within five minutes.
LOADER_MAX_AGE_S = 300

# The chat UI runs inside customers' pages: any site may frame it (the widget key's origin
# list decides who may chat), but it loads nothing from anywhere but here.
WIDGET_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
# Owner pages: framed by nothing but ourselves (the dashboard frames the preview).
OWNER_CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


async def assets(request: Request) -> Assets:
    return request.app.state.assets


Web = Annotated[Assets, Depends(assets)]
IfNoneMatch = Annotated[str | None, Header()]


def _serve(asset: Asset | None, if_none_match: str | None, *, cache: str, csp: str | None = None) -> Response:
    if asset is None:
        raise NotFound("no such file")
    headers = {"ETag": asset.etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if csp:
        headers["Content-Security-Policy"] = csp
    if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def _owner_page(asset: Asset | None, if_none_match: str | None) -> Response:
    """A page for owners: never cached stale, framed by nothing but ourselves."""
    response = _serve(asset, if_none_match, cache="no-cache", csp=OWNER_CSP)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@router.api_route("/", include_in_schema=False, methods=["GET", "HEAD"])
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=302)


@router.api_route(
    "/embed.js", tags=["widget"], summary="The loader a site embeds with one script tag", methods=["GET", "HEAD"]
)
async def embed_js(web: Web, if_none_match: IfNoneMatch = None) -> Response:
    cache = f"public, max-age={LOADER_MAX_AGE_S}, stale-while-revalidate=86400"
    return _serve(web.page("embed.js"), if_none_match, cache=cache)


@router.api_route("/widget", tags=["widget"], summary="The chat UI, framed by the loader", methods=["GET", "HEAD"])
async def widget(web: Web, if_none_match: IfNoneMatch = None) -> Response:
    return _serve(web.page("widget/widget.html"), if_none_match, cache="no-cache", csp=WIDGET_CSP)


@router.api_route(
    "/preview", tags=["widget"], summary="An owner's live preview of a bot's widget", methods=["GET", "HEAD"]
)
async def preview(web: Web, if_none_match: IfNoneMatch = None) -> Response:
    return _owner_page(web.page("widget/preview.html"), if_none_match)


@router.api_route(
    "/dashboard", tags=["dashboard"], summary="The owner dashboard (a single page)", methods=["GET", "HEAD"]
)
async def dashboard(web: Web, if_none_match: IfNoneMatch = None) -> Response:
    return _owner_page(web.page("dashboard/index.html"), if_none_match)


@router.api_route(
    "/static/{version}/{path:path}", tags=["widget"], summary="A versioned file of the web UI", methods=["GET", "HEAD"]
)
async def static(version: str, path: str, web: Web, if_none_match: IfNoneMatch = None) -> Response:
    # An old version's URL still gets today's file, but is not cached as if it were that version.
    cache = f"public, max-age={YEAR_S}, immutable" if version == web.version else "no-cache"
    return _serve(web.file(path), if_none_match, cache=cache)


@router.api_route(
    "/demo", tags=["widget"], summary="A sample business page with the demo bot's widget", methods=["GET", "HEAD"]
)
async def demo_page(request: Request, web: Web) -> Response:
    from cortex.widget import demo_page as page

    resources = request.app.state.resources
    public_key = await resources.redis.get(page.REDIS_KEY)
    if public_key is None:
        return Response(page.NO_DEMO_PAGE, status_code=404, media_type="text/html")
    public_url = resources.settings.resolved_public_url()
    body = page.render(web, public_url=public_url, public_key=public_key.decode())
    if body is None:
        raise NotFound("no such file")
    # A customer's page would have no policy; ours shares its origin with the dashboard, so
    # only our files run. The loader adds a <style> to its shadow root: inline styles allowed.
    csp = (
        f"default-src 'self'; script-src 'self' {public_url}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' https: data:; connect-src 'self' {public_url}; frame-src 'self' {public_url}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": csp}
    return Response(body, media_type="text/html", headers=headers)


def create_app(web: Assets | None = None) -> FastAPI:
    """The `widget` application: shared middleware, health endpoints and this service's routes."""
    app = create_service_app("widget", routers=[router])
    app.state.assets = web or Assets()
    # Text assets shrink ~4x; the loader's budget (15 KB) is what crosses the wire.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    return app

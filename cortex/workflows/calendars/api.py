"""The /calendars routes: the workspace's connected calendars. Members read them (never a secret);
admins connect (CalDAV with a URL and password, Google and Outlook through the provider's consent page),
change, test and disconnect them. The OAuth callback is public: the browser arrives from the provider,
and the signed state plus this browser's cookie are its credentials.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

import asyncpg
import redis.asyncio as aioredis
from fastapi import APIRouter, Cookie, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from cortex.http.app import ServiceResources
from cortex.http.security import Principal, public, require
from cortex.settings import APPLICATIONS
from cortex.workflows.calendars import schemas, service

router = APIRouter(prefix="/calendars", tags=["calendars"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
#: The browser cookie of an OAuth connection: sent only to the callback.
COOKIE_PATH = f"{APPLICATIONS['workflows']}/calendars/oauth"
#: Where the dashboard shows the connected calendars (and the result of a connection).
DASHBOARD_PAGE = "/dashboard#/bookings/calendars"


def _resources(request: Request) -> ServiceResources:
    return request.app.state.resources


Resources = Annotated[ServiceResources, Depends(_resources)]


def _pool(resources: ServiceResources) -> asyncpg.Pool:
    assert resources.db is not None
    return resources.db


def _redis(resources: ServiceResources) -> aioredis.Redis:
    assert resources.redis is not None
    return resources.redis


@router.get("", response_model=list[schemas.CalendarPublic])
async def list_calendars(principal: Viewer, resources: Resources) -> list[schemas.CalendarPublic]:
    """The connected calendars, with how each answered when last asked (no password, no token)."""
    return await service.list_calendars(_pool(resources), workspace_id=principal.workspace_id)


@router.post("", response_model=schemas.CalendarPublic, status_code=201)
async def connect_caldav(data: schemas.CalDAVConnect, principal: Admin, resources: Resources) -> schemas.CalendarPublic:
    """Connect a CalDAV calendar; it is asked once first, and refused (422) when it does not answer."""
    return await service.connect_caldav(
        _pool(resources), resources.settings, workspace_id=principal.workspace_id, data=data
    )


@router.patch("/{calendar_id}", response_model=schemas.CalendarPublic)
async def update_calendar(
    calendar_id: uuid.UUID, data: schemas.CalendarUpdate, principal: Admin, resources: Resources
) -> schemas.CalendarPublic:
    """Rename it, set the resource whose busy time it holds, or whether bookings are written into it."""
    return await service.update_calendar(
        _pool(resources), workspace_id=principal.workspace_id, calendar_id=calendar_id, data=data
    )


@router.delete("/{calendar_id}", status_code=204)
async def disconnect(calendar_id: uuid.UUID, principal: Admin, resources: Resources) -> Response:
    """Forget the calendar and its credentials (events written there stay)."""
    await service.disconnect(_pool(resources), workspace_id=principal.workspace_id, calendar_id=calendar_id)
    return Response(status_code=204)


@router.post("/{calendar_id}/test", response_model=schemas.CalendarTest)
async def test_calendar(calendar_id: uuid.UUID, principal: Admin, resources: Resources) -> schemas.CalendarTest:
    """Ask the calendar for the next week's busy time now (a calendar that does not answer is a 200
    with ok=false and the reason, and its status becomes error)."""
    return await service.test_calendar(
        _pool(resources),
        resources.settings,
        workspace_id=principal.workspace_id,
        calendar_id=calendar_id,
        http=resources.http,
    )


@router.post("/oauth/{provider}/start", response_model=schemas.OAuthStarted)
async def start_oauth(
    provider: schemas.OAuthProvider,
    principal: Admin,
    resources: Resources,
    response: Response,
    data: schemas.OAuthStart | None = None,
) -> schemas.OAuthStarted:
    """The provider's consent page for connecting a Google or Outlook calendar; this browser gets the
    cookie that the callback asks for."""
    started, browser_secret = await service.start_oauth(
        _pool(resources),
        _redis(resources),
        resources.settings,
        workspace_id=principal.workspace_id,
        member=principal.subject,
        provider=provider,
        data=data or schemas.OAuthStart(),
    )
    response.set_cookie(
        service.BROWSER_COOKIE,
        browser_secret,
        max_age=started.expires_in,
        path=COOKIE_PATH,
        secure=resources.settings.resolved_public_url().startswith("https://"),
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to the callback
    )
    return started


@router.get("/oauth/callback", dependencies=[Depends(public)], response_class=RedirectResponse)
async def oauth_callback(
    resources: Resources,
    state: Annotated[str, Query(min_length=8, max_length=4096)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    browser_secret: Annotated[str | None, Cookie(alias=service.BROWSER_COOKIE, max_length=200)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: the calendar is connected, and the browser goes on to
    the dashboard's calendars page with the result (`connected=<name>` or `error=<reason>`)."""
    base = f"{resources.settings.resolved_public_url()}{DASHBOARD_PAGE}"
    try:
        calendar = await service.finish_oauth(
            _pool(resources),
            _redis(resources),
            resources.settings,
            state=state,
            code=code,
            error=error,
            browser_secret=browser_secret,
            http=resources.http,
        )
    except service.OAuthFailed as exc:
        target = f"{base}?{urlencode({'error': exc.message})}"
    else:
        target = f"{base}?{urlencode({'connected': calendar.name, 'calendar_id': str(calendar.id)})}"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(service.BROWSER_COOKIE, path=COOKIE_PATH)
    return response

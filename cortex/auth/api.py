"""HTTP API of the `auth` service (mounted under /api/auth by Serve or the monolith)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from cortex.auth import schemas
from cortex.auth.oidc import router as oidc_router
from cortex.auth.service import (
    AccountService,
    ApiKeyService,
    AuditService,
    InvitationService,
    MemberService,
    PasswordResetService,
    SessionService,
    TokenService,
    VerificationService,
    VisitorService,
    WidgetKeyService,
    devices,
)
from cortex.auth.service.visitors import from_cortex_page
from cortex.background import repeat
from cortex.errors import Unauthorized
from cortex.http import create_service_app
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, client_ip, public, require, require_user

log = logging.getLogger("cortex.auth")
router = APIRouter()

# JWKS and the API-key cache are re-published this often, so a flushed or restarted Redis
# heals within a minute without anyone noticing.
REPUBLISH_INTERVAL_S = 60

S = TypeVar("S")


def _built(resources: ServiceResources, service: Callable[..., S]) -> S:
    assert resources.db is not None and resources.redis is not None
    return service(db=resources.db, redis=resources.redis, settings=resources.settings)


def _provide(service: Callable[..., S]) -> Callable[[Request], Any]:
    """A route dependency: one part of the auth service over this application's resources."""

    async def provide(request: Request) -> S:
        return _built(request.app.state.resources, service)

    return provide


Accounts = Annotated[AccountService, Depends(_provide(AccountService))]
Sessions = Annotated[SessionService, Depends(_provide(SessionService))]
Members = Annotated[MemberService, Depends(_provide(MemberService))]
Invitations = Annotated[InvitationService, Depends(_provide(InvitationService))]
Verification = Annotated[VerificationService, Depends(_provide(VerificationService))]
Resets = Annotated[PasswordResetService, Depends(_provide(PasswordResetService))]
ApiKeys = Annotated[ApiKeyService, Depends(_provide(ApiKeyService))]
WidgetKeys = Annotated[WidgetKeyService, Depends(_provide(WidgetKeyService))]
Visitors = Annotated[VisitorService, Depends(_provide(VisitorService))]
Audit = Annotated[AuditService, Depends(_provide(AuditService))]
Tokens = Annotated[TokenService, Depends(_provide(TokenService))]
Member = Annotated[Principal, Depends(require_user("viewer"))]
Admin = Annotated[Principal, Depends(require_user("admin"))]
Owner = Annotated[Principal, Depends(require_user("owner"))]


def _ip(request: Request) -> str:
    return client_ip(request, request.app.state.resources.settings)


def _agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


@router.post("/register", status_code=202, dependencies=[Depends(public)], response_model=schemas.RegisterAccepted)
async def register(data: schemas.RegisterIn, request: Request, accounts: Accounts) -> schemas.RegisterAccepted:
    """Create an account and its workspace (the caller owns it), then log in. The answer is the same
    when the address already has an account; the mail to the address says which it was."""
    return await accounts.register(data, ip=_ip(request))


@router.post("/login", dependencies=[Depends(public)], response_model=schemas.TokenPair)
async def login(data: schemas.LoginIn, request: Request, response: Response, accounts: Accounts) -> schemas.TokenPair:
    """Log in with email and password. Success leaves a device cookie (HttpOnly, sent back to this
    route alone): this browser's next logins keep a limit of their own when strangers spend the
    account's shared one."""
    cookie = request.cookies.get(devices.COOKIE)
    pair = await accounts.login(data, ip=_ip(request), user_agent=_agent(request), device_cookie=cookie)
    response.set_cookie(
        devices.COOKIE,
        accounts.device_cookie(data.email, cookie),
        max_age=devices.TTL_S,
        path=devices.COOKIE_PATH,
        secure=request.app.state.resources.settings.resolved_public_url().startswith("https://"),
        httponly=True,
        samesite="strict",
    )
    return pair


@router.post("/password", response_model=schemas.TokenPair)
async def change_password(
    data: schemas.PasswordChangeIn, principal: Member, request: Request, accounts: Accounts
) -> schemas.TokenPair:
    """Change your own password (the current one first); every session ends and this one gets new tokens."""
    return await accounts.change_password(principal, data, ip=_ip(request), user_agent=_agent(request))


@router.post("/verify-email", response_model=schemas.UserPublic)
async def verify_email(
    data: schemas.LinkTokenIn, principal: Member, request: Request, verification: Verification
) -> schemas.UserPublic:
    """Prove your address with the mailed link's token, signed in as the account it was sent for."""
    return await verification.verify_email(principal, data.token, ip=_ip(request))


@router.post("/verify-email/resend", status_code=202, response_model=schemas.Accepted)
async def resend_verification(principal: Member, verification: Verification) -> schemas.Accepted:
    """Mail your address a new verification link (the older ones stop working)."""
    return await verification.send_verification(principal)


@router.post("/password-reset", status_code=202, dependencies=[Depends(public)], response_model=schemas.Accepted)
async def request_password_reset(data: schemas.PasswordResetIn, request: Request, resets: Resets) -> schemas.Accepted:
    """Mail a single-use link to choose a new password; the same answer whether or not the address has an account."""
    return await resets.request_reset(data, ip=_ip(request))


@router.post("/password-reset/confirm", dependencies=[Depends(public)], response_model=schemas.Accepted)
async def confirm_password_reset(
    data: schemas.PasswordResetConfirmIn, request: Request, resets: Resets
) -> schemas.Accepted:
    """Set a new password with the mailed link's token; every session of the account ends."""
    return await resets.confirm_reset(data, ip=_ip(request))


@router.post("/refresh", dependencies=[Depends(public)], response_model=schemas.TokenPair)
async def refresh(data: schemas.RefreshIn, request: Request, sessions: Sessions) -> schemas.TokenPair:
    """A new token pair; the presented refresh token is spent."""
    return await sessions.refresh(data.refresh_token, ip=_ip(request))


@router.post("/logout", status_code=204)
async def logout(
    principal: Member, request: Request, sessions: Sessions, data: schemas.LogoutIn | None = None
) -> Response:
    """End this session: its access token and refresh tokens stop working at once."""
    await sessions.logout(principal, ip=_ip(request))
    return Response(status_code=204)


@router.get("/verify", response_model=schemas.VerifyOut)
async def verify(principal: Member) -> schemas.VerifyOut:
    assert principal.user_id is not None and principal.role is not None and principal.expires_at is not None
    return schemas.VerifyOut(
        user_id=principal.user_id, workspace_id=principal.workspace_id, role=principal.role, exp=principal.expires_at
    )


@router.get("/me", response_model=schemas.MeOut)
async def me(principal: Member, accounts: Accounts) -> schemas.MeOut:
    return await accounts.me(principal)


@router.post("/switch-workspace", response_model=schemas.TokenPair)
async def switch_workspace(
    data: schemas.SwitchWorkspaceIn, principal: Member, request: Request, sessions: Sessions
) -> schemas.TokenPair:
    """A token pair for another workspace the caller belongs to."""
    return await sessions.switch_workspace(principal, data.workspace_id, ip=_ip(request), user_agent=_agent(request))


@router.get("/.well-known/jwks.json", dependencies=[Depends(public)])
async def jwks(tokens: Tokens, response: Response) -> dict[str, Any]:
    """Public keys that verify Cortex tokens (RFC 7517)."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return await tokens.jwks()


@router.get("/sessions", response_model=list[schemas.SessionPublic])
async def list_sessions(principal: Member, sessions: Sessions) -> list[schemas.SessionPublic]:
    return await sessions.list_sessions(principal)


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: uuid.UUID, principal: Member, request: Request, sessions: Sessions) -> Response:
    await sessions.revoke_session(principal, session_id, ip=_ip(request))
    return Response(status_code=204)


@router.get("/members", response_model=list[schemas.MemberPublic])
async def list_members(
    principal: Annotated[Principal, Depends(require("viewer"))], members: Members
) -> list[schemas.MemberPublic]:
    return await members.list_members(principal)


@router.post("/members", status_code=202, response_model=schemas.InvitationSent)
async def invite_member(
    data: schemas.InviteIn, principal: Admin, request: Request, invitations: Invitations
) -> schemas.InvitationSent:
    """Invite an address with a role: the address gets a link, and joins only when its owner
    accepts, signed in with a verified account of it. The answer is the same either way."""
    return await invitations.invite(principal, data, ip=_ip(request))


@router.get("/invitations", response_model=list[schemas.InvitationPublic])
async def list_invitations(principal: Admin, invitations: Invitations) -> list[schemas.InvitationPublic]:
    """Invitations not yet accepted or revoked, newest first."""
    return await invitations.list_invitations(principal)


@router.delete("/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    invitation_id: uuid.UUID, principal: Admin, request: Request, invitations: Invitations
) -> Response:
    """The invitation's link stops working."""
    await invitations.revoke(principal, invitation_id, ip=_ip(request))
    return Response(status_code=204)


@router.post("/invitations/accept", response_model=schemas.InvitationAccepted)
async def accept_invitation(
    data: schemas.LinkTokenIn, principal: Member, request: Request, invitations: Invitations
) -> schemas.InvitationAccepted:
    """Join the workspace of the mailed invitation, signed in with a verified account of the invited address."""
    return await invitations.accept(principal, data.token, ip=_ip(request))


@router.patch("/members/{user_id}", response_model=schemas.MemberPublic)
async def change_role(
    user_id: uuid.UUID, data: schemas.RoleIn, principal: Admin, request: Request, members: Members
) -> schemas.MemberPublic:
    """Change a member's role; their sessions end so the new role applies at once."""
    return await members.change_role(principal, user_id, data.role, ip=_ip(request))


@router.delete("/members/{user_id}", status_code=204)
async def remove_member(user_id: uuid.UUID, principal: Admin, request: Request, members: Members) -> Response:
    await members.remove_member(principal, user_id, ip=_ip(request))
    return Response(status_code=204)


@router.get("/api-keys", response_model=list[schemas.ApiKeyPublic])
async def list_api_keys(principal: Admin, api_keys: ApiKeys) -> list[schemas.ApiKeyPublic]:
    return await api_keys.list_api_keys(principal)


@router.post("/api-keys", status_code=201, response_model=schemas.ApiKeyCreated)
async def create_api_key(
    data: schemas.ApiKeyIn, principal: Admin, request: Request, api_keys: ApiKeys
) -> schemas.ApiKeyCreated:
    """Create a key for server-to-server calls; its secret is shown in this response only."""
    return await api_keys.create_api_key(principal, data, ip=_ip(request))


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: uuid.UUID, principal: Admin, request: Request, api_keys: ApiKeys) -> Response:
    await api_keys.revoke_api_key(principal, key_id, ip=_ip(request))
    return Response(status_code=204)


@router.get("/widget-keys", response_model=list[schemas.WidgetKeyPublic])
async def list_widget_keys(
    principal: Annotated[Principal, Depends(require("admin"))],
    widget_keys: WidgetKeys,
    bot_id: Annotated[uuid.UUID | None, Query(description="only this bot's keys")] = None,
) -> list[schemas.WidgetKeyPublic]:
    return await widget_keys.list_widget_keys(principal, bot_id=bot_id)


@router.post("/widget-keys", status_code=201, response_model=schemas.WidgetKeyPublic)
async def create_widget_key(
    data: schemas.WidgetKeyIn, principal: Admin, request: Request, widget_keys: WidgetKeys
) -> schemas.WidgetKeyPublic:
    """A public key for a bot's widget; only the listed origins may use it (none by default)."""
    return await widget_keys.create_widget_key(principal, data, ip=_ip(request))


@router.patch("/widget-keys/{key_id}", response_model=schemas.WidgetKeyPublic)
async def update_widget_key(
    key_id: uuid.UUID, data: schemas.WidgetKeyUpdate, principal: Admin, request: Request, widget_keys: WidgetKeys
) -> schemas.WidgetKeyPublic:
    return await widget_keys.update_widget_key(principal, key_id, data, ip=_ip(request))


@router.delete("/widget-keys/{key_id}", status_code=204)
async def revoke_widget_key(key_id: uuid.UUID, principal: Admin, request: Request, widget_keys: WidgetKeys) -> Response:
    await widget_keys.revoke_widget_key(principal, key_id, ip=_ip(request))
    return Response(status_code=204)


@router.post("/widget-keys/{key_id}/identity-secret", status_code=201, response_model=schemas.IdentitySecretOut)
async def create_identity_secret(
    key_id: uuid.UUID, principal: Admin, request: Request, widget_keys: WidgetKeys
) -> schemas.IdentitySecretOut:
    """A new identity secret for verifying visitors, shown this once (replaces the previous one)."""
    return await widget_keys.create_identity_secret(principal, key_id, ip=_ip(request))


@router.put("/widget-keys/{key_id}/identity-verification", response_model=schemas.WidgetKeyPublic)
async def set_identity_verification(
    key_id: uuid.UUID,
    data: schemas.IdentityVerificationIn,
    principal: Admin,
    request: Request,
    widget_keys: WidgetKeys,
) -> schemas.WidgetKeyPublic:
    """Require (or not) a valid user_hash from every visitor; unverified tokens stop working at once."""
    return await widget_keys.set_identity_verification(principal, key_id, data, ip=_ip(request))


@router.post("/visitor-token", dependencies=[Depends(public)], response_model=schemas.VisitorTokenOut)
async def visitor_token(data: schemas.VisitorTokenIn, request: Request, visitors: Visitors) -> schemas.VisitorTokenOut:
    """Exchange a widget key for a short-lived visitor token (the site's origin checked against the key)."""
    member: Principal | None = None
    if data.preview and request.headers.get("authorization"):
        member = await request.app.state.resources.authenticator.authenticate(request.headers["authorization"])
    elif data.preview:
        raise Unauthorized("preview needs a signed-in member")
    origin = request.headers.get("origin")
    own_page = from_cortex_page(origin, request.headers.get("host"), request.headers.get("sec-fetch-site"))
    return await visitors.visitor_token(data, origin=origin, member=member, ip=_ip(request), from_own_page=own_page)


@router.get("/audit-log", response_model=list[schemas.AuditEntry])
async def audit_log(
    principal: Owner,
    audit: Audit,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[schemas.AuditEntry]:
    """Security events of this workspace, newest first (owners only)."""
    return await audit.audit_log(principal, limit=limit, before_id=before_id)


async def _republish(resources: ServiceResources) -> None:
    """Keep JWKS and API-key records in Redis, where every verifier reads them."""
    tokens, api_keys = _built(resources, TokenService), _built(resources, ApiKeyService)
    widget_keys = _built(resources, WidgetKeyService)

    async def publish() -> None:  # a failed round is retried the next; readiness shows the outage
        await tokens.jwks()
        await api_keys.sync_api_key_cache()
        await widget_keys.sync_identity_markers()

    await repeat(publish, every_s=REPUBLISH_INTERVAL_S, stop=resources.stopping, what="publishing JWKS and API keys")


def create_app() -> FastAPI:
    """The `auth` application: shared middleware, health endpoints and this service's routes."""
    from cortex.auth.events import consume
    from cortex.mail import deliver_queued_mail

    return create_service_app(
        "auth",
        routers=[router, oidc_router],
        background=[_republish, consume, deliver_queued_mail],
        open_cors_paths=("/visitor-token",),
    )

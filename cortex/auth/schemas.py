"""Request and response models of the auth API (never a database row)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cortex.email_address import EmailAddress

Role = Literal["owner", "admin", "agent", "viewer"]
Permission = Literal["read", "reply", "manage"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterIn(Strict):
    email: EmailAddress
    password: str = Field(max_length=1024)
    workspace_name: str = Field(min_length=1, max_length=120)
    display_name: str = Field("", max_length=120)
    marketing_consent: bool = False


class RegisterAccepted(BaseModel):
    """What sign-up answers, the same whether or not the address already had an account."""

    email: str
    message: str


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class LoginIn(Strict):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    workspace_id: uuid.UUID | None = None


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutIn(Strict):
    refresh_token: str | None = Field(None, max_length=256)


class SwitchWorkspaceIn(Strict):
    workspace_id: uuid.UUID


class UserPublic(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime
    email_verified: bool = Field(
        False, description="the owner proved the address (a mailed link); until then the account is limited"
    )


class WorkspacePublic(BaseModel):
    id: uuid.UUID
    name: str
    plan: str
    role: Role | None = None
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserPublic
    workspace: WorkspacePublic


class VerifyOut(BaseModel):
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    role: Role
    exp: int


class MeOut(BaseModel):
    user: UserPublic
    workspace: WorkspacePublic
    role: Role
    workspaces: list[WorkspacePublic]


class SessionPublic(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    current: bool


class MemberPublic(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    created_at: datetime


class InviteIn(Strict):
    email: EmailAddress
    role: Role = "agent"


class InvitationSent(BaseModel):
    """What an invitation answers, the same whether or not the address has an account."""

    email: str
    role: Role
    message: str


class RoleIn(Strict):
    role: Role


class InvitationPublic(BaseModel):
    """An open invitation, as the workspace's admins see it (nobody joined yet)."""

    id: uuid.UUID
    email: str
    role: Role
    invited_by_email: str
    created_at: datetime
    expires_at: datetime
    expired: bool


class LinkTokenIn(Strict):
    """The token of a mailed link (verification, invitation)."""

    token: str = Field(min_length=16, max_length=200)


class InvitationAccepted(BaseModel):
    workspace: WorkspacePublic
    role: Role
    message: str


class PasswordResetIn(Strict):
    email: EmailAddress


class PasswordResetConfirmIn(Strict):
    token: str = Field(min_length=16, max_length=200)
    new_password: str = Field(max_length=1024)


class Accepted(BaseModel):
    """What a request that mails a link answers (the same whatever the mail says)."""

    message: str


class ApiKeyIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    permissions: list[Permission] = Field(min_length=1)


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(description="shown once; store it now")


def _origin(value: str) -> str:
    """An origin is scheme://host[:port], nothing more; normalised to lower case."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an origin like https://www.example.com")
    if "*" in value:
        raise ValueError("wildcard origins are not allowed; list each origin")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


class WidgetKeyIn(Strict):
    bot_id: uuid.UUID
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return sorted({_origin(v) for v in values})


class WidgetKeyUpdate(Strict):
    allowed_origins: list[str] = Field(max_length=50)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return sorted({_origin(v) for v in values})


class WidgetKeyPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    public_key: str
    allowed_origins: list[str]
    created_at: datetime
    revoked_at: datetime | None
    identity_required: bool = Field(False, description="visitors need a valid user_hash (identity verification)")
    has_identity_secret: bool = Field(False, description="an identity secret was generated for this key")


class IdentitySecretOut(BaseModel):
    widget_key_id: uuid.UUID
    identity_secret: str = Field(description="shown once: HMAC-SHA256(identity_secret, user_id) is the user_hash")


class IdentityVerificationIn(Strict):
    required: bool


class VisitorTokenIn(Strict):
    public_key: str = Field(min_length=4, max_length=100)
    # What the widget got from the last exchange; an id alone proves nothing and is never honoured.
    visitor_credential: str | None = Field(None, max_length=600)
    # Sent by widgets from before signed visitor credentials: read as a request for a new visitor.
    visitor_id: str | None = Field(None, max_length=200, description="ignored: a new visitor is issued")
    # Identity verification: the business's own user id and HMAC-SHA256(identity secret, user_id).
    user_id: str | None = Field(None, min_length=1, max_length=200)
    user_hash: str | None = Field(None, min_length=1, max_length=200)
    # The embedding page's origin, as Cortex's own widget frame saw it (postMessage's event.origin);
    # honoured only on a same-origin request from a Cortex page.
    site_origin: str | None = Field(None, max_length=300)
    preview: bool = False

    @model_validator(mode="after")
    def _user_id_and_hash_together(self) -> VisitorTokenIn:
        if (self.user_id is None) != (self.user_hash is None):
            raise ValueError("user_id and user_hash go together: send both or neither")
        return self


class VisitorTokenOut(BaseModel):
    visitor_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    visitor_id: str
    bot_id: uuid.UUID
    visitor_credential: str | None = Field(
        None, description="present it at the next exchange to stay the same visitor (anonymous visitors)"
    )
    user_id: str | None = Field(None, description="the verified user id (identity verification)")


class AuditEntry(BaseModel):
    id: int
    user_id: uuid.UUID | None
    event: str
    detail: dict
    ip: str
    created_at: datetime

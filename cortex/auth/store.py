"""SQL of the auth service. Every tenant-owned query takes `workspace_id` as a keyword."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

# -- signing keys (platform-wide, not tenant-owned) -----------------------------------------


async def insert_signing_key(
    conn: asyncpg.Connection, *, kid: str, algorithm: str, private_key: bytes, public_jwk: dict[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk) VALUES ($1, $2, $3, $4) "
        "RETURNING kid, created_at",
        kid,
        algorithm,
        private_key,
        public_jwk,
    )


async def active_signing_key(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT kid, private_key, created_at FROM signing_keys WHERE retired_at IS NULL "
        "ORDER BY created_at DESC LIMIT 1"
    )


async def retire_signing_key(conn: asyncpg.Connection, *, kid: str) -> None:
    await conn.execute("UPDATE signing_keys SET retired_at = now() WHERE kid = $1 AND retired_at IS NULL", kid)


async def verifiable_signing_keys(conn: asyncpg.Connection, *, retired_after: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kid, public_jwk FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC",
        retired_after,
    )


# -- users and workspaces ---------------------------------------------------------------------


async def create_user(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    email: str,
    password_hash: str | None,
    display_name: str,
    email_verified: bool = False,
) -> asyncpg.Record | None:
    """None when the email is taken (case-insensitively). `email_verified`: an identity provider
    vouched for the address."""
    return await conn.fetchrow(
        "INSERT INTO users (id, email, password_hash, display_name, email_verified_at) "
        "VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END) "
        "ON CONFLICT (lower(email)) DO NOTHING RETURNING id, email, display_name, created_at, email_verified_at",
        user_id,
        email,
        password_hash,
        display_name,
        email_verified,
    )


_USER_COLUMNS = "id, email, password_hash, display_name, created_at, disabled_at, email_verified_at"


async def get_user_by_email(conn: asyncpg.Connection, *, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower($1)", email)


async def get_user(conn: asyncpg.Connection, *, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def mark_email_verified(conn: asyncpg.Connection, *, user_id: uuid.UUID, email: str) -> bool:
    """The owner of `email` proved it; False when the account's address is another one by now."""
    status = await conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) "
        "WHERE id = $1 AND lower(email) = lower($2)",
        user_id,
        email,
    )
    return status.endswith(" 1")


async def set_password_hash(conn: asyncpg.Connection, *, user_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def create_workspace(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, name: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO workspaces (id, name) VALUES ($1, $2) RETURNING id, name, plan, created_at", workspace_id, name
    )


async def get_workspace(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, plan, created_at FROM workspaces WHERE id = $1", workspace_id)


# -- memberships --------------------------------------------------------------------------------

_MEMBER_COLUMNS = "m.workspace_id, m.user_id, m.role, m.created_at, u.email, u.display_name"


async def add_membership(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str) -> bool:
    """False when the user already is a member."""
    status = await conn.execute(
        "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        workspace_id,
        user_id,
        role,
    )
    return status.endswith("1")


async def get_membership(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE m.workspace_id = $1 AND m.user_id = $2",
        workspace_id,
        user_id,
    )


async def list_members(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE m.workspace_id = $1 ORDER BY m.created_at",
        workspace_id,
    )


async def workspaces_of_user(conn: asyncpg.Connection, *, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT w.id, w.name, w.plan, w.created_at, m.role FROM memberships m "
        "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY m.created_at",
        user_id,
    )


async def set_member_role(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str) -> bool:
    status = await conn.execute(
        "UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2", workspace_id, user_id, role
    )
    return status.endswith(" 1")


async def remove_member(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2", workspace_id, user_id
    )
    return status.endswith(" 1")


async def count_owners(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'", workspace_id
    )


# -- sessions and refresh tokens ----------------------------------------------------------------

_SESSION_COLUMNS = "id, user_id, workspace_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip"


async def create_session(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    expires_at: datetime,
    user_agent: str,
    ip: str,
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, user_id, workspace_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6)",
        session_id,
        user_id,
        workspace_id,
        expires_at,
        user_agent[:300],
        ip,
    )


async def get_session(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, session_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = $1 AND workspace_id = $2", session_id, workspace_id
    )


async def list_sessions(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE workspace_id = $1 AND user_id = $2 "
        "AND revoked_at IS NULL AND expires_at > now() ORDER BY last_used_at DESC",
        workspace_id,
        user_id,
    )


async def revoke_sessions(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    reason: str,
    session_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke one session, or all of a user's sessions in the workspace; spend their tokens."""
    rows = await conn.fetch(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $4 "
        "WHERE workspace_id = $1 AND revoked_at IS NULL "
        "AND ($2::uuid IS NULL OR id = $2) AND ($3::uuid IS NULL OR user_id = $3) RETURNING id",
        workspace_id,
        session_id,
        user_id,
        reason,
    )
    ids = [row["id"] for row in rows]
    if ids:
        await conn.execute(
            "UPDATE refresh_tokens SET spent_at = now() WHERE session_id = ANY($1::uuid[]) AND spent_at IS NULL", ids
        )
    return ids


async def insert_refresh_token(
    conn: asyncpg.Connection, *, token_hash: bytes, session_id: uuid.UUID, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        session_id,
        expires_at,
    )


async def lock_refresh_token(conn: asyncpg.Connection, *, token_hash: bytes) -> asyncpg.Record | None:
    """The token with its session, locked for the rotation (call inside a transaction)."""
    return await conn.fetchrow(
        "SELECT t.session_id, t.expires_at, t.spent_at, s.user_id, s.workspace_id, s.revoked_at "
        "FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1 FOR UPDATE OF t, s",
        token_hash,
    )


async def spend_refresh_token(conn: asyncpg.Connection, *, token_hash: bytes) -> None:
    await conn.execute("UPDATE refresh_tokens SET spent_at = now() WHERE token_hash = $1", token_hash)


async def touch_session(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE sessions SET last_used_at = now() WHERE id = $1 AND workspace_id = $2", session_id, workspace_id
    )


# -- API keys -------------------------------------------------------------------------------

_API_KEY_COLUMNS = "id, workspace_id, name, prefix, permissions, created_by, created_at, last_used_at, revoked_at"


async def create_api_key(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    name: str,
    prefix: str,
    secret_hash: bytes,
    permissions: list[str],
    created_by: uuid.UUID,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, permissions, created_by) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_API_KEY_COLUMNS}",
        key_id,
        workspace_id,
        name,
        prefix,
        secret_hash,
        permissions,
        created_by,
    )


async def list_api_keys(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY created_at DESC", workspace_id
    )


async def revoke_api_key(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {_API_KEY_COLUMNS}",
        key_id,
        workspace_id,
    )


async def active_api_keys_for_cache(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every active key with its workspace plan: the verifier cache is rebuilt from this."""
    return await conn.fetch(
        "SELECT k.id, k.workspace_id, k.prefix, k.secret_hash, k.permissions, w.plan FROM api_keys k "
        "JOIN workspaces w ON w.id = k.workspace_id WHERE k.revoked_at IS NULL"
    )


async def revoked_api_key_prefixes(conn: asyncpg.Connection) -> list[str]:
    """The prefix of every revoked key: the verifier cache keeps a tombstone for each."""
    return [row["prefix"] for row in await conn.fetch("SELECT prefix FROM api_keys WHERE revoked_at IS NOT NULL")]


# -- widget keys ----------------------------------------------------------------------------

_WIDGET_KEY_COLUMNS = (
    "id, workspace_id, bot_id, public_key, allowed_origins, created_at, revoked_at, identity_required, "
    "identity_secret IS NOT NULL AS has_identity_secret"
)


async def create_widget_key(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    bot_id: uuid.UUID,
    public_key: str,
    allowed_origins: list[str],
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO widget_keys (id, workspace_id, bot_id, public_key, allowed_origins) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {_WIDGET_KEY_COLUMNS}",
        key_id,
        workspace_id,
        bot_id,
        public_key,
        allowed_origins,
    )


async def list_widget_keys(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID | None = None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_WIDGET_KEY_COLUMNS} FROM widget_keys WHERE workspace_id = $1 "
        "AND ($2::uuid IS NULL OR bot_id = $2) ORDER BY created_at DESC",
        workspace_id,
        bot_id,
    )


async def revoke_widget_keys_of_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> int:
    """A deleted bot's keys stop working (no token is issued for a bot that is gone)."""
    status = await conn.execute(
        "UPDATE widget_keys SET revoked_at = now() WHERE workspace_id = $1 AND bot_id = $2 AND revoked_at IS NULL",
        workspace_id,
        bot_id,
    )
    return int(status.split()[-1])


async def update_widget_key_origins(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID, allowed_origins: list[str]
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE widget_keys SET allowed_origins = $3 WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {_WIDGET_KEY_COLUMNS}",
        key_id,
        workspace_id,
        allowed_origins,
    )


async def revoke_widget_key(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE widget_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {_WIDGET_KEY_COLUMNS}",
        key_id,
        workspace_id,
    )


async def get_widget_key(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_WIDGET_KEY_COLUMNS} FROM widget_keys WHERE id = $1 AND workspace_id = $2", key_id, workspace_id
    )


async def set_widget_key_identity_secret(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID, sealed_secret: bytes
) -> asyncpg.Record | None:
    """Store a (new) identity secret, sealed by cortex.secrets_box; None for no such active key."""
    return await conn.fetchrow(
        "UPDATE widget_keys SET identity_secret = $3 WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL "
        f"RETURNING {_WIDGET_KEY_COLUMNS}",
        key_id,
        workspace_id,
        sealed_secret,
    )


async def set_widget_key_identity_required(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, key_id: uuid.UUID, required: bool
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE widget_keys SET identity_required = $3 WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL "
        f"RETURNING {_WIDGET_KEY_COLUMNS}",
        key_id,
        workspace_id,
        required,
    )


async def widget_keys_requiring_identity(conn: asyncpg.Connection) -> list[uuid.UUID]:
    """Every active key that requires verified visitors: the verifiers' markers are rebuilt from this."""
    rows = await conn.fetch("SELECT id FROM widget_keys WHERE identity_required AND revoked_at IS NULL")
    return [row["id"] for row in rows]


async def get_widget_key_by_public_key(conn: asyncpg.Connection, *, public_key: str) -> asyncpg.Record | None:
    """Lookup by the public key itself: the key is the credential that names its workspace."""
    return await conn.fetchrow(
        f"SELECT k.{_WIDGET_KEY_COLUMNS.replace(', ', ', k.')}, k.identity_secret, w.plan FROM widget_keys k "
        "JOIN workspaces w ON w.id = k.workspace_id WHERE k.public_key = $1",
        public_key,
    )


# -- audit log ------------------------------------------------------------------------------


async def insert_audit(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID | None,
    event: str,
    user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (workspace_id, user_id, event, detail, ip) VALUES ($1, $2, $3, $4, $5)",
        workspace_id,
        user_id,
        event,
        detail or {},
        ip,
    )


async def list_audit(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, limit: int, before_id: int | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, user_id, event, detail, ip, created_at FROM audit_log "
        "WHERE workspace_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        workspace_id,
        before_id,
        limit,
    )


# -- OIDC identities ------------------------------------------------------------------------


async def get_identity(conn: asyncpg.Connection, *, provider: str, subject: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT provider, subject, user_id, email FROM oauth_identities WHERE provider = $1 AND subject = $2",
        provider,
        subject,
    )


async def insert_identity(
    conn: asyncpg.Connection, *, provider: str, subject: str, user_id: uuid.UUID, email: str
) -> None:
    await conn.execute(
        "INSERT INTO oauth_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        provider,
        subject,
        user_id,
        email,
    )


# -- links mailed to an account's address (verification, password reset) ---------------------


async def insert_email_token(
    conn: asyncpg.Connection, *, token_hash: bytes, purpose: str, user_id: uuid.UUID, email: str, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, expires_at) VALUES ($1, $2, $3, $4, $5)",
        token_hash,
        purpose,
        user_id,
        email,
        expires_at,
    )


async def use_email_token(
    conn: asyncpg.Connection, *, token_hash: bytes, purpose: str, user_id: uuid.UUID | None = None
) -> asyncpg.Record | None:
    """Spend an unexpired, unused token of this purpose (and of this account, when given), once;
    None for any other."""
    return await conn.fetchrow(
        "UPDATE email_tokens SET used_at = now() "
        "WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() "
        "AND ($3::uuid IS NULL OR user_id = $3) RETURNING user_id, email",
        token_hash,
        purpose,
        user_id,
    )


async def spend_email_tokens(conn: asyncpg.Connection, *, user_id: uuid.UUID, purpose: str) -> None:
    """Every outstanding link of this purpose stops working (a newer one replaces them)."""
    await conn.execute(
        "UPDATE email_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose,
    )


# -- invitations ----------------------------------------------------------------------------

_INVITATION_COLUMNS = (
    "i.id, i.workspace_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at"
)


async def create_invitation(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    invitation_id: uuid.UUID,
    email: str,
    role: str,
    invited_by: uuid.UUID | None,
    token_hash: bytes,
    expires_at: datetime,
) -> asyncpg.Record:
    """A new open invitation; an open one to the same address is revoked first (a new one replaces it)."""
    await conn.execute(
        "UPDATE invitations SET revoked_at = now() WHERE workspace_id = $1 AND lower(email) = lower($2) "
        "AND accepted_at IS NULL AND revoked_at IS NULL",
        workspace_id,
        email,
    )
    return await conn.fetchrow(
        "INSERT INTO invitations AS i (id, workspace_id, email, role, invited_by, token_hash, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_INVITATION_COLUMNS}",
        invitation_id,
        workspace_id,
        email,
        role,
        invited_by,
        token_hash,
        expires_at,
    )


async def list_open_invitations(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
    """Invitations not yet accepted or revoked (expired ones too: an admin sees them to send again)."""
    return await conn.fetch(
        f"SELECT {_INVITATION_COLUMNS}, coalesce(u.email, '') AS invited_by_email FROM invitations i "
        "LEFT JOIN users u ON u.id = i.invited_by "
        "WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL ORDER BY i.created_at DESC",
        workspace_id,
    )


async def get_open_invitation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, invitation_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_INVITATION_COLUMNS} FROM invitations i WHERE i.id = $1 AND i.workspace_id = $2 "
        "AND i.accepted_at IS NULL AND i.revoked_at IS NULL",
        invitation_id,
        workspace_id,
    )


async def revoke_invitation(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, invitation_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE invitations SET revoked_at = now() WHERE id = $1 AND workspace_id = $2 "
        "AND accepted_at IS NULL AND revoked_at IS NULL",
        invitation_id,
        workspace_id,
    )
    return status.endswith(" 1")


async def lock_invitation_by_token(conn: asyncpg.Connection, *, token_hash: bytes) -> asyncpg.Record | None:
    """The invitation its link names, with its workspace, locked for the acceptance. The token is
    the credential that names the workspace, as a widget's public key does."""
    return await conn.fetchrow(
        f"SELECT {_INVITATION_COLUMNS}, w.name AS workspace_name FROM invitations i "
        "JOIN workspaces w ON w.id = i.workspace_id WHERE i.token_hash = $1 FOR UPDATE OF i",
        token_hash,
    )


async def accept_invitation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, invitation_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    await conn.execute(
        "UPDATE invitations SET accepted_at = now(), accepted_by = $3 WHERE id = $1 AND workspace_id = $2",
        invitation_id,
        workspace_id,
        user_id,
    )

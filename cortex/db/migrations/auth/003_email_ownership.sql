-- Proof that an account owns its address (#18 finding 1): verification, invitations, password reset.

-- NULL until the owner of the address followed a verification link (or a password-reset link,
-- or signed up through an identity provider that verified it).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Accounts that exist only through an identity provider were created from a verified address.
UPDATE users u SET email_verified_at = u.created_at
WHERE u.password_hash IS NULL
  AND EXISTS (SELECT 1 FROM oauth_identities i WHERE i.user_id = u.id AND lower(i.email) = lower(u.email));

-- Single-use links mailed to an account's address: verify it, or reset the password. Only the
-- SHA-256 of the token is kept; `email` is the address the link was sent to.
CREATE TABLE email_tokens (
    token_hash bytea PRIMARY KEY,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- An invitation to a workspace: the invitee accepts through the mailed link, signed in with a
-- verified account of this address. Nobody joins before that.
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    token_hash   bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   timestamptz
);
CREATE INDEX invitations_workspace ON invitations (workspace_id, created_at DESC);
-- One open invitation per address and workspace: a new one replaces it.
CREATE UNIQUE INDEX invitations_open ON invitations (workspace_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- A visitor's consent (the widget's lead form) is kept by their profile in core, not by their
-- address: lead.captured no longer carries the address, and visitor.erased removes the row.
-- An account's consent (sign-up) is still kept by its address.
ALTER TABLE consents DROP CONSTRAINT consents_pkey;
ALTER TABLE consents ALTER COLUMN email DROP NOT NULL;
ALTER TABLE consents ADD COLUMN profile_id uuid;
ALTER TABLE consents ADD CONSTRAINT consents_someone CHECK (email IS NOT NULL OR profile_id IS NOT NULL);
CREATE UNIQUE INDEX consents_by_email ON consents (workspace_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX consents_by_profile ON consents (workspace_id, profile_id) WHERE profile_id IS NOT NULL;

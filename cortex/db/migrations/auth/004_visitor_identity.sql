-- Visitor identity (#18 finding 8): a widget key may require the business to vouch for its
-- visitors. `identity_secret` is the key's HMAC secret, sealed by cortex/secrets_box.py
-- (shown to an admin once, when generated); `identity_required` refuses visitors without a
-- valid `user_hash` and makes tokens minted without one stop working.
ALTER TABLE widget_keys
    ADD COLUMN identity_secret   bytea,
    ADD COLUMN identity_required boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT widget_keys_identity_needs_secret CHECK (NOT identity_required OR identity_secret IS NOT NULL);

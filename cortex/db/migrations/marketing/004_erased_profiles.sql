-- The visitors erased in each workspace, by their profile id in core (random, holds nothing
-- personal): a lead.captured retried or redelivered after the erasure must not bring back a
-- consent for someone who asked to be forgotten.
CREATE TABLE erased_profiles (
    workspace_id uuid NOT NULL,
    profile_id uuid NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, profile_id)
);

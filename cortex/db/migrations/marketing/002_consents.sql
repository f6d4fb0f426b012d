-- Marketing consent as given by a person, with where it came from; the subscriber list and
-- double opt-in build on this.
CREATE TABLE consents (
    workspace_id uuid        NOT NULL,
    email        text        NOT NULL,
    user_id      uuid,
    source       text        NOT NULL,           -- e.g. 'signup', 'widget', 'import'
    source_event uuid,                           -- the event that recorded it, for audit
    consented_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, email)
);

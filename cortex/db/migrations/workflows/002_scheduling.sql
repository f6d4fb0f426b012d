-- Appointment scheduling (cortex/workflows, graphs/scheduling): each bot's booking rules, its
-- services, resources and closures, the workspace's connected calendars, the appointments (never
-- two on one resource at once: an exclusion constraint), the scheduling runs of the chat, durable
-- tasks (reminders, follow-ups, owner notifications) and the mail queue (cortex/mail.py).
-- btree_gist (for `resource_id WITH =` in a GiST exclusion) is created by `cortex migrate`'s
-- admin step before this file runs (cortex/db/migrate.py EXTENSIONS).

-- A bot's booking rules. No row: the bot does not book (the chat answers as before).
-- `hours`: per ISO weekday ("1" Monday … "7" Sunday) a list of ["HH:MM", "HH:MM"] opening spans,
-- in the business's `time_zone`. `notify`: where the owner is told ({"emails": [...],
-- "webhook_url": "https://…"}); the webhook's HMAC secret is sealed apart (cortex.secrets_box).
CREATE TABLE booking_settings (
    workspace_id          uuid        NOT NULL,
    bot_id                uuid        NOT NULL,
    enabled               boolean     NOT NULL DEFAULT true,
    time_zone             text        NOT NULL DEFAULT 'UTC',
    hours                 jsonb       NOT NULL,
    buffer_min            integer     NOT NULL DEFAULT 0  CHECK (buffer_min BETWEEN 0 AND 240),
    min_notice_min        integer     NOT NULL DEFAULT 60 CHECK (min_notice_min BETWEEN 0 AND 43200),
    horizon_days          integer     NOT NULL DEFAULT 60 CHECK (horizon_days BETWEEN 1 AND 730),
    slot_step_min         integer     NOT NULL DEFAULT 30 CHECK (slot_step_min BETWEEN 5 AND 240),
    reminder_hours        integer[]   NOT NULL DEFAULT '{24}',
    follow_up_hours       integer              DEFAULT 24,
    notify                jsonb       NOT NULL DEFAULT '{}',
    webhook_secret_sealed bytea,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, bot_id)
);

-- What can be booked, and for how long.
CREATE TABLE services (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid        NOT NULL,
    name         text        NOT NULL,
    duration_min integer     NOT NULL CHECK (duration_min BETWEEN 5 AND 720),
    description  text        NOT NULL DEFAULT '',
    active       boolean     NOT NULL DEFAULT true,
    position     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, bot_id, name)
);

-- Who or what an appointment takes (a chair, a room, a person): capacity is the number of active
-- resources. Every bot that books has at least one.
CREATE TABLE resources (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid        NOT NULL,
    name         text        NOT NULL,
    active       boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, bot_id, name)
);

-- Closed days (holidays, closures), inclusive, in the business's time zone.
CREATE TABLE closures (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid        NOT NULL,
    starts_on    date        NOT NULL,
    ends_on      date        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    CHECK (ends_on >= starts_on)
);
CREATE INDEX closures_bot ON closures (workspace_id, bot_id, ends_on);

-- The workspace's connected calendars. `kind`: caldav, google or outlook (the built-in calendar is
-- the appointments and busy blocks below, always there). `config`: what is not secret (the CalDAV
-- URL and user, the remote calendar's id, the OAuth client id and endpoints); `credentials_sealed`:
-- passwords and OAuth tokens, sealed (cortex.secrets_box). `resource_id`: the resource whose busy
-- times it holds; null: it blocks every resource of the workspace. `write_bookings`: bookings are
-- also written into it. `status`/`last_error`: the last time it was asked, for the dashboard.
CREATE TABLE calendars (
    id                 uuid        PRIMARY KEY,
    workspace_id       uuid        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('caldav', 'google', 'outlook')),
    name               text        NOT NULL,
    resource_id        uuid        REFERENCES resources (id) ON DELETE SET NULL,
    config             jsonb       NOT NULL DEFAULT '{}',
    credentials_sealed bytea,
    write_bookings     boolean     NOT NULL DEFAULT true,
    status             text        NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error')),
    last_error         text,
    last_checked_at    timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendars_workspace ON calendars (workspace_id);

-- Busy times the owner enters in the built-in calendar (lunch, a training day).
CREATE TABLE busy_blocks (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid        NOT NULL,
    resource_id  uuid        REFERENCES resources (id) ON DELETE CASCADE,
    during       tstzrange   NOT NULL,
    title        text        NOT NULL DEFAULT ''
);
CREATE INDEX busy_blocks_bot ON busy_blocks USING gist (during);

-- An appointment. `blocked` is [starts_at, ends_at + buffer): two booked appointments of one resource
-- never overlap, buffer included; the database refuses the second (23P01), whatever the replicas do.
-- `uid`/`sequence`: the iCalendar identity of its invitations (each change sends sequence + 1).
-- `external`: {calendar_id: the event's id there} for the connected calendars it was written into.
-- `name`/`email`: the visitor's, removed by `visitor.erased` (the row stays, anonymous, so the slot
-- stays taken).
CREATE TABLE appointments (
    id              uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    bot_id          uuid        NOT NULL,
    resource_id     uuid        NOT NULL REFERENCES resources (id),
    service_id      uuid        REFERENCES services (id) ON DELETE SET NULL,
    service_name    text        NOT NULL,
    conversation_id uuid,
    visitor_id      text,
    name            text,
    email           text,
    notes           text        NOT NULL DEFAULT '',
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    blocked         tstzrange   NOT NULL,
    time_zone       text        NOT NULL,
    language        text        NOT NULL DEFAULT 'en',
    status          text        NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    source          text        NOT NULL DEFAULT 'chat' CHECK (source IN ('chat', 'api', 'dashboard')),
    uid             text        NOT NULL UNIQUE,
    sequence        integer     NOT NULL DEFAULT 0,
    external        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    CHECK (ends_at > starts_at),
    CONSTRAINT appointments_no_double_booking
        EXCLUDE USING gist (resource_id WITH =, blocked WITH &&) WHERE (status = 'booked')
);
CREATE INDEX appointments_bot_time ON appointments (workspace_id, bot_id, starts_at);
CREATE INDEX appointments_conversation ON appointments (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX appointments_visitor ON appointments (workspace_id, visitor_id) WHERE visitor_id IS NOT NULL;

-- One run of a LangGraph workflow (the LangGraph thread is `id`; its checkpoints live in the
-- checkpointer's tables, created by `cortex migrate` too). A conversation has at most one active
-- scheduling run: core hands its turns here while it is active.
CREATE TABLE workflow_runs (
    id              uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    bot_id          uuid        NOT NULL,
    workflow        text        NOT NULL,
    conversation_id uuid,
    visitor_id      text,
    status          text        NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'completed', 'abandoned', 'cancelled', 'failed')),
    step            text        NOT NULL DEFAULT '',
    appointment_id  uuid        REFERENCES appointments (id) ON DELETE SET NULL,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workflow_runs_one_active ON workflow_runs (conversation_id, workflow)
    WHERE status = 'active' AND conversation_id IS NOT NULL;
CREATE INDEX workflow_runs_workspace ON workflow_runs (workspace_id, created_at DESC);

-- Durable automation: a reminder before an appointment, a follow-up after a lead's conversation, an
-- owner notification (mail or a signed webhook). The service's loop claims due rows FOR UPDATE SKIP
-- LOCKED, runs them, and retries with backoff until `max_attempts`; the status is the owner's to read.
CREATE TABLE tasks (
    id              uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('reminder', 'follow_up', 'notify_owner')),
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    due_at          timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL DEFAULT 8,
    appointment_id  uuid        REFERENCES appointments (id) ON DELETE CASCADE,
    conversation_id uuid,
    payload         jsonb       NOT NULL DEFAULT '{}',
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX tasks_due ON tasks (due_at) WHERE status = 'queued';
CREATE INDEX tasks_workspace ON tasks (workspace_id, created_at DESC);

-- Mail waiting for the relay (cortex/mail.py), as in every service that mails.
CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    sealed          bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);

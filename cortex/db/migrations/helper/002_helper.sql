-- The helper's own data: patterns and their statistics, experiments, what it knows of each
-- conversation (for crediting outcomes), the guidance each bot message carried, and what it saw
-- and advised per turn (for owners). Nothing here holds a visitor's words: analyses name facts,
-- never copy them; visitor ids are the widget's pseudonymous ids, removed on `visitor.erased`.

-- Per bot: whether the helper steers it, and the outcome its learning optimises.
CREATE TABLE bot_settings (
    workspace_id uuid        NOT NULL,
    bot_id       uuid        PRIMARY KEY,
    enabled      boolean     NOT NULL DEFAULT true,
    goal         text        NOT NULL DEFAULT 'resolution' CHECK (goal IN ('resolution', 'lead', 'booking')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bot_settings_workspace ON bot_settings (workspace_id);

-- A strategy for a situation. bot_id NULL: every bot of the workspace. intent/stage NULL: any.
CREATE TABLE patterns (
    id                uuid PRIMARY KEY,
    workspace_id      uuid        NOT NULL,
    bot_id            uuid,
    name              text        NOT NULL,
    intent            text,
    stage             text,
    example           text        NOT NULL DEFAULT '',
    example_embedding real[],
    instruction       text        NOT NULL,
    status            text        NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'active', 'retired')),
    origin            text        NOT NULL DEFAULT 'owner' CHECK (origin IN ('owner', 'import', 'mined')),
    retired_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patterns_workspace ON patterns (workspace_id, status, created_at);

-- Outcomes credited to a pattern in a situation ("intent/stage"): `uses` conversations it guided
-- that closed, and how many of them reached each goal. Ratings count per rated message.
CREATE TABLE pattern_stats (
    workspace_id uuid        NOT NULL,
    pattern_id   uuid        NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    situation    text        NOT NULL,
    uses         int         NOT NULL DEFAULT 0,
    resolutions  int         NOT NULL DEFAULT 0,
    leads        int         NOT NULL DEFAULT 0,
    bookings     int         NOT NULL DEFAULT 0,
    escalations  int         NOT NULL DEFAULT 0,
    thumbs_up    int         NOT NULL DEFAULT 0,
    thumbs_down  int         NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern_id, situation)
);

-- An A/B test. arms: [{"name": "A", "weight": 50, "pattern_id": uuid|null, "addendum": text|null}, …]
-- in a fixed order (the order decides sticky assignment). bot_id NULL: every bot of the workspace.
CREATE TABLE experiments (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid,
    name         text        NOT NULL,
    intent       text,
    stage        text,
    metric       text        NOT NULL CHECK (metric IN ('resolution', 'lead', 'booking')),
    arms         jsonb       NOT NULL,
    status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped')),
    auto_promote boolean     NOT NULL DEFAULT false,
    winner       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
CREATE INDEX experiments_workspace ON experiments (workspace_id, status, created_at);

-- What the helper knows of a conversation, from core's events: who (for sticky experiments and
-- erasure), its outcome labels so far, and what its last close credited (NULL: nothing yet), so
-- a reopened and re-closed conversation moves the statistics by the difference, not twice.
CREATE TABLE conversations (
    conversation_id   uuid PRIMARY KEY,
    workspace_id      uuid        NOT NULL,
    bot_id            uuid        NOT NULL,
    visitor_id        text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    outcomes          text[]      NOT NULL DEFAULT '{}',
    outcome           text,
    closed_at         timestamptz,
    credited_outcomes text[]
);
CREATE INDEX conversations_visitor ON conversations (workspace_id, visitor_id);

-- The guidance a bot message carried (from `message.created`): a pattern, an experiment arm, or both.
CREATE TABLE applications (
    message_id      uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    bot_id          uuid        NOT NULL,
    pattern_id      uuid,
    experiment_id   uuid,
    arm             text,
    situation       text,
    rating          smallint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_conversation ON applications (conversation_id);
CREATE INDEX applications_experiment ON applications (experiment_id, arm) WHERE experiment_id IS NOT NULL;

-- What the helper saw (the analysis: intents, scores, the names of missing facts) and advised,
-- per turn, for the owner's view of a conversation. Kept CORTEX_HELPER_ADVICE_RETENTION_DAYS.
CREATE TABLE advice_log (
    id              uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    bot_id          uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    analysis        jsonb       NOT NULL,
    guidance        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX advice_log_conversation ON advice_log (conversation_id, created_at);
CREATE INDEX advice_log_created ON advice_log (created_at);

-- Bots, visitor profiles, conversations and messages.

CREATE TABLE bots (
    id                      uuid PRIMARY KEY,
    workspace_id            uuid        NOT NULL,
    name                    text        NOT NULL,
    system_prompt           text        NOT NULL DEFAULT '',
    persona                 text        NOT NULL DEFAULT '',
    welcome_message         text        NOT NULL DEFAULT '',
    language                text        NOT NULL DEFAULT 'en',
    appearance              jsonb       NOT NULL DEFAULT '{}',
    lead_fields             text[]      NOT NULL DEFAULT '{}',
    llm                     jsonb       NOT NULL DEFAULT '{}',
    direct_answer_threshold double precision NOT NULL DEFAULT 0.85,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bots_workspace ON bots (workspace_id, created_at);

CREATE TABLE visitor_profiles (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    visitor_id   text        NOT NULL,
    name         text,
    email        text,
    phone        text,
    company      text,
    consent      jsonb       NOT NULL DEFAULT '{}',
    attributes   jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, visitor_id)
);

CREATE TABLE conversations (
    id              uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    bot_id          uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    profile_id      uuid REFERENCES visitor_profiles (id) ON DELETE SET NULL,
    visitor_id      text,
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'handoff', 'closed')),
    outcomes        text[]      NOT NULL DEFAULT '{}',
    rating          int CHECK (rating BETWEEN 1 AND 5),
    feedback        text,
    assigned_agent  uuid,
    message_count   int         NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_workspace ON conversations (workspace_id, last_message_at DESC);
CREATE INDEX conversations_bot ON conversations (bot_id, last_message_at DESC);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text        NOT NULL CHECK (role IN ('visitor', 'bot', 'agent', 'system')),
    content         text        NOT NULL,
    citations       jsonb       NOT NULL DEFAULT '[]',
    direct_answer   boolean     NOT NULL DEFAULT false,
    degraded        boolean     NOT NULL DEFAULT false,
    tokens_in       int         NOT NULL DEFAULT 0,
    tokens_out      int         NOT NULL DEFAULT 0,
    author_id       uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_search ON messages USING gin (search);

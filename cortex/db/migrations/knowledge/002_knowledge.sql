-- What a business teaches its bots: sources (files, document collections, crawls, the FAQ
-- list), their chunks with a BM25 term index, FAQs, crawl frontiers and ingestion jobs.

-- The bots this service knows, kept from core's bot.created / bot.deleted events (a bot
-- created a moment ago is also looked up in core once, see cortex.knowledge.service).
CREATE TABLE bots (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sources (
    id            uuid PRIMARY KEY,
    workspace_id  uuid        NOT NULL,
    bot_id        uuid        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('file', 'collection', 'crawl', 'faq')),
    name          text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'queued', 'running', 'ready', 'failed', 'paused', 'cancelled')),
    error_code    text,
    error         text,
    content_type  text,
    size_bytes    bigint,
    sha256        text,
    object_key    text,
    origin_url    text,
    config        jsonb       NOT NULL DEFAULT '{}',
    progress      jsonb       NOT NULL DEFAULT '{}',
    row_errors    jsonb       NOT NULL DEFAULT '[]',
    document_count int        NOT NULL DEFAULT 0,
    chunk_count   int         NOT NULL DEFAULT 0,
    job_id        text,
    schedule_s    int,
    next_run_at   timestamptz,
    indexed_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sources_bot ON sources (workspace_id, bot_id, created_at);
CREATE INDEX sources_due ON sources (next_run_at) WHERE next_run_at IS NOT NULL;
-- One FAQ source per bot holds the FAQ chunks.
CREATE UNIQUE INDEX sources_one_faq_per_bot ON sources (bot_id) WHERE kind = 'faq';

-- A chunk's id is a content hash (re-ingesting the same content is an idempotent upsert).
-- length counts the lexemes BM25 normalises by.
CREATE TABLE chunks (
    bot_id       uuid    NOT NULL,
    id           text    NOT NULL,
    workspace_id uuid    NOT NULL,
    source_id    uuid    NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    document_key text    NOT NULL,
    ord          int     NOT NULL DEFAULT 0,
    title        text    NOT NULL DEFAULT '',
    url          text,
    text         text    NOT NULL,
    length       int     NOT NULL,
    PRIMARY KEY (bot_id, id)
);
CREATE INDEX chunks_source ON chunks (source_id, document_key);

-- The lexical index: term frequencies per chunk, stemmed by Postgres' english configuration;
-- dl repeats the chunk's length so scoring a posting needs no join.
CREATE TABLE chunk_terms (
    bot_id   uuid NOT NULL,
    term     text NOT NULL,
    chunk_id text NOT NULL,
    tf       int  NOT NULL,
    dl       int  NOT NULL,
    PRIMARY KEY (bot_id, term, chunk_id),
    FOREIGN KEY (bot_id, chunk_id) REFERENCES chunks (bot_id, id) ON DELETE CASCADE
);
CREATE INDEX chunk_terms_chunk ON chunk_terms (bot_id, chunk_id);

-- N and the summed length per bot, kept by the writers so a search reads them in one row.
CREATE TABLE bot_index_stats (
    bot_id       uuid PRIMARY KEY,
    chunks       bigint NOT NULL DEFAULT 0,
    total_length bigint NOT NULL DEFAULT 0
);

CREATE TABLE faqs (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    bot_id       uuid        NOT NULL,
    question     text        NOT NULL,
    answer       text        NOT NULL,
    tags         text[]      NOT NULL DEFAULT '{}',
    enabled      boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX faqs_bot ON faqs (workspace_id, bot_id, created_at);
CREATE UNIQUE INDEX faqs_question ON faqs (bot_id, lower(regexp_replace(btrim(question), '\s+', ' ', 'g')));

-- A crawl's frontier and what each page gave, kept across runs (pause/resume, incremental re-crawl).
CREATE TABLE crawl_pages (
    source_id     uuid        NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    url           text        NOT NULL,
    depth         int         NOT NULL,
    status        text        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'fetched', 'not_modified', 'failed', 'skipped')),
    http_status   int,
    error         text,
    title         text,
    content_hash  text,
    etag          text,
    last_modified text,
    discovered_at timestamptz NOT NULL DEFAULT now(),
    fetched_at    timestamptz,
    PRIMARY KEY (source_id, url)
);
CREATE INDEX crawl_pages_queue ON crawl_pages (source_id, discovered_at) WHERE status = 'queued';
CREATE INDEX crawl_pages_hash ON crawl_pages (source_id, content_hash);

-- Every Ray job submitted for a source, newest last.
CREATE TABLE ingest_jobs (
    id           text PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    source_id    uuid        NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    entrypoint   text        NOT NULL,
    status       text        NOT NULL DEFAULT 'submitted',
    message      text,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX ingest_jobs_source ON ingest_jobs (source_id, submitted_at);

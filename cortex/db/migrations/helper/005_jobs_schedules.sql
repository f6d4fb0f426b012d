-- The helper's Ray jobs (pattern mining, ingest/mine_patterns.py): the record of each run, the
-- schedule its background loop claims due runs from, and what the mining job's own login role
-- (cortex_helper_jobs, JOB_ROLES in cortex/settings.py) may touch. Shapes shared with every service
-- that runs jobs (cortex/jobs.py, cortex/schedules.py).

-- One row per run, inserted `queued` by the service before it submits the Ray job (id: the Ray
-- submission id); the job's runner (ingest/runner.py) reports running + progress, then succeeded
-- with counts or failed with a code and a message the owner can act on (`detail`: for operators,
-- never shown to owners).
CREATE TABLE jobs (
    id           text PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    kind         text        NOT NULL,
    entrypoint   text        NOT NULL,
    trigger      text        NOT NULL CHECK (trigger IN ('schedule', 'owner')),
    requested_by text,
    status       text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    progress     jsonb       NOT NULL DEFAULT '{}',
    counts       jsonb       NOT NULL DEFAULT '{}',
    error_code   text,
    error        text,
    detail       text,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX jobs_workspace ON jobs (workspace_id, kind, submitted_at DESC);
-- At most one run of a kind in flight per workspace: a second request is refused (409), a due
-- schedule waits for its next time.
CREATE UNIQUE INDEX jobs_one_in_flight ON jobs (workspace_id, kind) WHERE status IN ('queued', 'running');

-- When each workspace's next scheduled run of a kind is due. Rows are created lazily (a workspace
-- with closed conversations gets its mining row); the loop claims due rows FOR UPDATE SKIP LOCKED,
-- so replicas never start the same run twice, and moves due_at one interval on.
CREATE TABLE schedules (
    workspace_id uuid        NOT NULL,
    kind         text        NOT NULL,
    due_at       timestamptz NOT NULL,
    last_job_id  text,
    last_run_at  timestamptz,
    PRIMARY KEY (workspace_id, kind)
);
CREATE INDEX schedules_due ON schedules (kind, due_at);

-- The mining job reads the outcomes, what the helper saw per turn, the bots that still exist, the
-- patterns and their statistics, and the running experiments (their arms are never retired by
-- mining); it inserts candidate patterns, retires patterns, and reports on its own run. Nothing
-- else: it cannot delete, touch settings, experiments or the bus's bookkeeping.
GRANT USAGE ON SCHEMA helper TO cortex_helper_jobs;
GRANT SELECT ON conversations, applications, advice_log, bots, bot_settings, pattern_stats, experiments
    TO cortex_helper_jobs;
GRANT SELECT, INSERT ON patterns TO cortex_helper_jobs;
GRANT UPDATE (status, retired_reason, updated_at) ON patterns TO cortex_helper_jobs;
-- INSERT: a run an ML engineer submits by hand (`ray job submit`) records itself.
GRANT SELECT, INSERT ON jobs TO cortex_helper_jobs;
GRANT UPDATE (status, progress, counts, error_code, error, detail, started_at, finished_at) ON jobs
    TO cortex_helper_jobs;

-- The bots the helper knows of, from core's `bot.created` and `bot.deleted` events (the helper never
-- reads core's schema). A pattern, an experiment or a bot's settings may name only a bot of the
-- same workspace: bot_settings is keyed by bot id alone, so without this check one workspace could
-- write settings for another's bot.
CREATE TABLE bots (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bots_workspace ON bots (workspace_id);

-- Why an experiment stopped: a member stopped it, a winner was promoted (by a member or
-- automatically), or its bot was deleted.
ALTER TABLE experiments ADD COLUMN stopped_reason text;
-- The patterns in scope of a bot, and the running experiments of a bot, are read on every refresh
-- of the Guide's cache.
CREATE INDEX patterns_bot ON patterns (workspace_id, bot_id) WHERE status <> 'retired';
CREATE INDEX experiments_running ON experiments (workspace_id, bot_id) WHERE status = 'running';

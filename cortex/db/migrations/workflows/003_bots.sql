-- The bots workflows knows of, from core's `bot.created` / `bot.deleted` (the scheduling part's own
-- consumer group, cortex/workflows/scheduling/bots.py): a member may set booking rules only for a bot
-- of their workspace. Workflows never reads core's schema.
CREATE TABLE bots (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bots_workspace ON bots (workspace_id);

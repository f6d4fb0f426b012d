-- LLM tokens used per workspace per month, all its bots together. The plan's budget ceiling
-- (CORTEX_LLM_BUDGET_CEILINGS) bounds this total, not each bot alone: ten bots must not spend ten
-- ceilings. Kept apart from bot_usage, whose rows go with a deleted bot, so deleting and
-- recreating bots does not reset what the workspace spent.
CREATE TABLE workspace_usage (
    workspace_id uuid   NOT NULL,
    month        date   NOT NULL,
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, month)
);

INSERT INTO workspace_usage (workspace_id, month, tokens)
SELECT workspace_id, month, sum(tokens) FROM bot_usage GROUP BY workspace_id, month;

-- LLM tokens used per bot per month: the budget check reads one row instead of summing messages.
CREATE TABLE bot_usage (
    workspace_id uuid   NOT NULL,
    bot_id       uuid   NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    month        date   NOT NULL,
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bot_id, month)
);

-- A bot reply the visitor walked away from: the words generated until they left are kept
-- (transcripts stay whole, the budget counts them), flagged so owners can tell.
ALTER TABLE messages ADD COLUMN interrupted boolean NOT NULL DEFAULT false;

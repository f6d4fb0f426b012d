-- FAQ matches are scored on the question, its phrasings, the answer and the words they share
-- (cortex.knowledge.retrieval.FaqScoring), not on the question's similarity alone: the default
-- direct-answer threshold is the one calibrated for that score, and bots still on the old default
-- move with it (a threshold an owner chose is left alone).
ALTER TABLE bots ALTER COLUMN direct_answer_threshold SET DEFAULT 0.8;
UPDATE bots SET direct_answer_threshold = 0.8 WHERE direct_answer_threshold = 0.85;

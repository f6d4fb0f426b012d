-- What the widget needs of a message: the buttons a bot reply carries (lead form, a person,
-- quick replies), and the visitor's thumbs up (1) or down (-1).
ALTER TABLE messages ADD COLUMN actions jsonb NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN feedback smallint CHECK (feedback IN (-1, 1));
ALTER TABLE messages ADD COLUMN feedback_at timestamptz;

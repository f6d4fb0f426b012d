-- What the helper applied to each bot message (issue #19): the success pattern, the experiment and
-- its arm (also an experiment's no-guidance arm), the situation ("intent/stage") the pick was made
-- for, or, when no guidance was applied, why (cortex.contracts.guidance.NoGuidanceReason). Owners
-- see them on transcripts; visitors never do. `answered`: the bot's reply answered the question (a
-- fixed "don't know" / "cannot look up" / handoff notice did not), which closing reads to label a
-- conversation resolved.
ALTER TABLE messages ADD COLUMN pattern_id uuid;
ALTER TABLE messages ADD COLUMN experiment_id uuid;
ALTER TABLE messages ADD COLUMN arm text;
ALTER TABLE messages ADD COLUMN situation text;
ALTER TABLE messages ADD COLUMN no_guidance text CHECK (
    no_guidance IN (
        'faq', 'cache', 'handoff', 'canned', 'extractive', 'helper_failed', 'helper_off', 'no_pattern', 'control'
    )
);
ALTER TABLE messages ADD COLUMN answered boolean;
-- Earlier bot replies: a reply that could not help carried the lead-form and handoff buttons.
UPDATE messages SET answered = (actions = '[]'::jsonb) WHERE role = 'bot';

-- Conversations close after CORTEX_CONVERSATION_IDLE_CLOSE_S without a message (or when a member
-- closes them): when, and by whom ('idle' or 'member'), so a late outcome (a booking made after
-- the conversation went quiet) re-announces the same closing with its new labels.
ALTER TABLE conversations ADD COLUMN closed_at timestamptz;
ALTER TABLE conversations ADD COLUMN closed_by text CHECK (closed_by IN ('idle', 'member'));
UPDATE conversations SET closed_at = last_message_at, closed_by = 'member' WHERE status = 'closed';
-- The closer's scan: only conversations still open or handed off, oldest activity first.
CREATE INDEX conversations_closing ON conversations (last_message_at) WHERE status IN ('open', 'handoff');

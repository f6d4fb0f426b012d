-- Appointment booking from the chat (issue #20). `booking_active`: the conversation's scheduling run
-- (workflows' Scheduler) waits for the visitor's next message, so core hands that message to it
-- whatever it says ("Tuesday at 3", "the second one"); the run's own answer sets it on each turn.
ALTER TABLE conversations ADD COLUMN booking_active boolean NOT NULL DEFAULT false;

-- A reply the Scheduler wrote (a slot offer, a confirmation) carries no guidance: `booking`.
ALTER TABLE messages DROP CONSTRAINT messages_no_guidance_check;
ALTER TABLE messages ADD CONSTRAINT messages_no_guidance_check CHECK (
    no_guidance IN (
        'faq', 'cache', 'handoff', 'canned', 'extractive', 'helper_failed', 'helper_off', 'no_pattern', 'control',
        'booking'
    )
);

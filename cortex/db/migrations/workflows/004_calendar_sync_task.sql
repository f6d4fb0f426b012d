-- A task that rewrites a booking's events in the connected calendars after commit: an erased
-- visitor's name and address leave the events written there too (cortex/workflows/events.py).
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('reminder', 'follow_up', 'notify_owner', 'calendar_sync'));

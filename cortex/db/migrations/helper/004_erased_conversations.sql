-- The ids of conversations whose visitor was erased (nothing else): an event about one of them that
-- arrives after the erasure (streams of different families are not ordered; an idle close comes
-- later) records nothing, so the helper never keeps the visitor's id again. Kept as long as the
-- advice log (CORTEX_HELPER_ADVICE_RETENTION_DAYS), far longer than any event waits on the bus.
CREATE TABLE erased_conversations (
    conversation_id uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    erased_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erased_conversations_erased ON erased_conversations (erased_at);

-- Mail waiting for the relay (cortex/mail.py): queued in the transaction of the change it reports,
-- sent after commit, deleted once the relay took it. `sealed` holds recipient, subject and text,
-- encrypted (cortex.secrets_box): a verification, invitation or reset link in it is a credential.
CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    sealed          bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);

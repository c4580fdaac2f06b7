-- 010: the notification outbox. One row per notification and channel (webhook, ntfy), queued in
-- the transaction that records the helper's event in the audit trail (dedupe_key: the event's
-- sequence number, so a drain retried after a lost acknowledgement queues nothing twice), and
-- delivered at least once by sms-bridge-api's workers, each row with its own Idempotency-Key.
-- A reminder ("closes in N minutes") is a row due later (next_attempt_at); it is deleted while
-- still pending when its door is extended (a new one is queued) or closed.

CREATE TABLE notification_outbox (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key UUID        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    dedupe_key      TEXT        NOT NULL UNIQUE,
    channel         VARCHAR(16) NOT NULL CHECK (channel IN ('webhook', 'ntfy')),
    kind            VARCHAR(32) NOT NULL,
    grant_id        VARCHAR(64),
    payload         JSONB       NOT NULL,
    status          VARCHAR(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ
);

COMMENT ON TABLE notification_outbox IS 'Notifications of door events waiting for (or done with) delivery to the webhook or ntfy.';
COMMENT ON COLUMN notification_outbox.dedupe_key IS 'channel:event:<helper seq>, channel:reminder:<helper seq>, or random: queued once.';
COMMENT ON COLUMN notification_outbox.next_attempt_at IS 'When it is due: now, a reminder''s moment, after a backoff, or a claim''s lease.';

CREATE INDEX notification_outbox_due_idx ON notification_outbox (channel, id) WHERE status = 'pending';
CREATE INDEX notification_outbox_grant_idx ON notification_outbox (grant_id) WHERE status = 'pending' AND kind = 'closes_soon';

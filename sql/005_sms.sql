-- 005: SMS onboarding: codes, verified numbers, the blacklist, the SMS log, the delivery outbox.

CREATE TABLE onboarding_codes (
    id            BIGSERIAL PRIMARY KEY,
    mobile_number VARCHAR(16) NOT NULL,
    hash          VARCHAR(32) NOT NULL UNIQUE,
    email         VARCHAR(254),
    device_id     VARCHAR(128),
    generated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    consumed_at   TIMESTAMPTZ          -- set once, by the SMS that used it
);
CREATE INDEX onboarding_codes_mobile_idx ON onboarding_codes (mobile_number, generated_at DESC);

-- A number whose SMS matched its code; pin-setup consumes it.
CREATE TABLE verified_numbers (
    mobile_number   VARCHAR(16) PRIMARY KEY,
    hash            VARCHAR(32) NOT NULL,
    email           VARCHAR(254),
    device_id       VARCHAR(128),
    verified_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    pin_consumed_at TIMESTAMPTZ
);

CREATE TABLE sms_blacklist (
    mobile_number VARCHAR(16) PRIMARY KEY,
    reason        TEXT,
    added_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every SMS outcome, with the number masked.
CREATE TABLE sms_bridge_logs (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    event         VARCHAR(32) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    mobile_masked VARCHAR(16) NOT NULL,
    mobile_hash   VARCHAR(64) NOT NULL,     -- HMAC of the number: counts per number without storing it
    message_id    VARCHAR(64),
    detail        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sms_bridge_logs_at_idx ON sms_bridge_logs (at DESC);
CREATE INDEX sms_bridge_logs_number_idx ON sms_bridge_logs (mobile_hash, event, at DESC);

-- Accounts waiting for delivery to the backend, in order (id), at least once (idempotency_key).
CREATE TABLE sync_outbox (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key UUID        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    mobile_number   VARCHAR(16) NOT NULL,
    payload         JSONB       NOT NULL,   -- without the PIN
    pin             VARCHAR(8),             -- removed once the backend accepted the item
    status          VARCHAR(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX sync_outbox_pending_idx ON sync_outbox (id) WHERE status = 'pending';

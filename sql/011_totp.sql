-- 011: a second factor for admins (TOTP, RFC 6238). The secret is stored sealed (libsodium
-- secretbox, key derived from SMS_BRIDGE_HMAC_SECRET, "v1:" + hex); last_step is the time step of
-- the last code accepted, and a code is accepted only for a later step (the replay rule, applied
-- by one UPDATE ... WHERE last_step < $step). Recovery codes are stored as keyed hashes and spent
-- once (used_at). Sessions remember when their admin last gave a code (otp_at), for step-up.

CREATE TABLE admin_totp (
    username      VARCHAR(64) PRIMARY KEY REFERENCES admin_users (username) ON DELETE CASCADE,
    sealed_secret TEXT        NOT NULL CHECK (sealed_secret LIKE 'v1:%'),
    last_step     BIGINT,
    enabled_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE admin_totp IS 'Admins enrolled in TOTP: sealed secret and the last accepted time step (replay guard).';

CREATE TABLE admin_recovery_codes (
    username  VARCHAR(64) NOT NULL REFERENCES admin_totp (username) ON DELETE CASCADE,
    code_hash VARCHAR(64) NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (username, code_hash)
);

ALTER TABLE admin_sessions ADD COLUMN otp_at TIMESTAMPTZ;

-- The login trail also records second-factor checks (method 'totp').
ALTER TABLE admin_auth_events DROP CONSTRAINT admin_auth_events_method_check;
ALTER TABLE admin_auth_events ADD CONSTRAINT admin_auth_events_method_check
    CHECK (method IN ('basic', 'session', 'cli', 'totp'));

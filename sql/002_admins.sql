-- 002: administrators (argon2id hashes) and the trail of their authentications.

CREATE TABLE admin_users (
    id               BIGSERIAL PRIMARY KEY,
    username         VARCHAR(64) NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    password_hash    TEXT        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    -- Bumped on every password change, so a cached verification of the old password is dropped.
    password_version INTEGER     NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE admin_users IS 'Administrators of SMS Bridge; passwords as libsodium argon2id strings.';

-- Append-only: every verified login and every failure, with where it came from.
CREATE TABLE admin_auth_events (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    username   VARCHAR(64) NOT NULL,
    source     VARCHAR(64) NOT NULL,
    method     VARCHAR(16) NOT NULL CHECK (method IN ('basic', 'session', 'cli')),
    outcome    VARCHAR(16) NOT NULL CHECK (outcome IN ('success', 'failure', 'throttled', 'changed'))
);

CREATE INDEX admin_auth_events_at_idx ON admin_auth_events (at DESC);

CREATE FUNCTION admin_auth_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_auth_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER admin_auth_events_no_update
    BEFORE UPDATE OR DELETE ON admin_auth_events
    FOR EACH ROW EXECUTE FUNCTION admin_auth_events_append_only();

-- 004: browser sessions of admins. The cookie's token is stored only as a keyed hash, so the
-- table alone does not let anyone in.

CREATE TABLE admin_sessions (
    token_hash  VARCHAR(64) PRIMARY KEY,
    username    VARCHAR(64) NOT NULL REFERENCES admin_users (username) ON DELETE CASCADE,
    csrf_token  VARCHAR(64) NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX admin_sessions_expires_idx ON admin_sessions (expires_at);

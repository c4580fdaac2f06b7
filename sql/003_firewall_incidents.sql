-- 003: reports from the firewall helper that are not doors: drift repaired or removed, a corrupt
-- state file. One row per helper event, recorded once.

CREATE TABLE firewall_incidents (
    id            BIGSERIAL PRIMARY KEY,
    helper_seq    BIGINT      NOT NULL UNIQUE,
    kind          VARCHAR(32) NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    detail        TEXT        NOT NULL DEFAULT '',
    service       VARCHAR(50),
    external_port INTEGER,
    source        VARCHAR(64),
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

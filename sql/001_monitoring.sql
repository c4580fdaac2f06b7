-- 001: the monitoring audit trail: every door opened and closed, append-only.
--
-- Each open and each close is its own row (action 'opened', 'closed' or 'expired'), tied together
-- by the helper's grant_id; nothing is ever updated or deleted (a trigger refuses it). helper_seq
-- is the sequence number of the firewall helper's event, unique, so draining the helper's event
-- journal twice records each event once. The seed's object names are kept.

CREATE TABLE monitoring_port_access (
    id               BIGSERIAL PRIMARY KEY,
    service          VARCHAR(50)  NOT NULL,
    external_port    INTEGER      NOT NULL CHECK (external_port BETWEEN 1 AND 65535),
    internal_port    INTEGER               CHECK (internal_port BETWEEN 1 AND 65535),
    action           VARCHAR(20)  NOT NULL CHECK (action IN ('opened', 'closed', 'expired')),
    opened_by        VARCHAR(100) NOT NULL,
    opened_at        TIMESTAMPTZ  NOT NULL,
    expires_at       TIMESTAMPTZ,
    closed_at        TIMESTAMPTZ,
    closed_by        VARCHAR(100),
    close_reason     TEXT,
    duration_minutes INTEGER,
    source           VARCHAR(64),
    server_ip        VARCHAR(64),
    connection_info  JSONB,
    grant_id         VARCHAR(64),
    helper_seq       BIGINT UNIQUE,
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CHECK ((action = 'opened') = (closed_at IS NULL))
);

COMMENT ON TABLE monitoring_port_access IS 'Append-only audit trail of monitoring doors: one row per open and one per close.';
COMMENT ON COLUMN monitoring_port_access.action IS 'opened; closed (by an admin or the system, see closed_by); expired (deadline reached).';
COMMENT ON COLUMN monitoring_port_access.opened_at IS 'When the door was opened (on close rows too, copied from the open).';
COMMENT ON COLUMN monitoring_port_access.closed_by IS 'Who closed the door: an admin name, or system / system-shutdown.';
COMMENT ON COLUMN monitoring_port_access.close_reason IS 'Why the door was closed, as given by the closer.';
COMMENT ON COLUMN monitoring_port_access.grant_id IS 'The firewall helper''s grant id: ties an open row to its close row.';
COMMENT ON COLUMN monitoring_port_access.helper_seq IS 'The firewall helper''s event sequence number: recording an event twice is refused.';

CREATE INDEX monitoring_port_access_service_idx ON monitoring_port_access (service);
CREATE INDEX monitoring_port_access_opened_at_idx ON monitoring_port_access (opened_at DESC);
CREATE INDEX monitoring_port_access_opened_by_idx ON monitoring_port_access (opened_by);
CREATE INDEX monitoring_port_access_action_idx ON monitoring_port_access (action);
CREATE INDEX monitoring_port_access_grant_idx ON monitoring_port_access (grant_id);

CREATE FUNCTION monitoring_port_access_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'monitoring_port_access is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER monitoring_port_access_no_update
    BEFORE UPDATE OR DELETE ON monitoring_port_access
    FOR EACH ROW EXECUTE FUNCTION monitoring_port_access_append_only();

CREATE TRIGGER monitoring_port_access_no_truncate
    BEFORE TRUNCATE ON monitoring_port_access
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_port_access_append_only();

-- A door is open while its open row has no close row and its deadline is ahead.
CREATE VIEW monitoring_ports_currently_open AS
SELECT o.service,
       o.external_port,
       o.internal_port,
       o.opened_by,
       o.opened_at,
       o.expires_at,
       EXTRACT(EPOCH FROM (o.expires_at - now())) / 60 AS minutes_remaining,
       o.source,
       o.server_ip,
       o.connection_info,
       o.grant_id
FROM monitoring_port_access o
WHERE o.action = 'opened'
  AND o.expires_at > now()
  AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c
                  WHERE c.action <> 'opened' AND c.grant_id = o.grant_id)
ORDER BY o.expires_at;

-- One row per door: its open, and its close if there was one.
CREATE VIEW monitoring_port_access_history AS
SELECT o.id,
       o.service,
       o.external_port,
       o.internal_port,
       COALESCE(c.action, 'opened') AS status,
       o.opened_by,
       o.opened_at,
       o.expires_at,
       c.closed_at,
       c.closed_by,
       c.close_reason,
       o.duration_minutes AS requested_duration_minutes,
       EXTRACT(EPOCH FROM (c.closed_at - o.opened_at)) / 60 AS actual_duration_minutes,
       o.source,
       o.server_ip,
       o.connection_info,
       o.grant_id
FROM monitoring_port_access o
LEFT JOIN LATERAL (SELECT * FROM monitoring_port_access c
                   WHERE c.action <> 'opened' AND c.grant_id = o.grant_id
                   ORDER BY c.closed_at LIMIT 1) c ON true
WHERE o.action = 'opened'
ORDER BY o.opened_at DESC;

CREATE VIEW monitoring_audit_summary AS
SELECT DATE(h.opened_at) AS date,
       h.service,
       h.opened_by,
       COUNT(*) AS total_opens,
       COUNT(*) FILTER (WHERE h.status = 'opened') AS currently_open,
       COUNT(*) FILTER (WHERE h.status = 'closed') AS manually_closed,
       COUNT(*) FILTER (WHERE h.status = 'expired') AS auto_closed,
       AVG(h.actual_duration_minutes) AS avg_duration_minutes
FROM monitoring_port_access_history h
GROUP BY DATE(h.opened_at), h.service, h.opened_by
ORDER BY date DESC, h.service;

-- Records an open. The seed's arguments first; the helper's grant id, event sequence number and
-- real times after (defaults keep the seed's call form working). Returns the row id, or the id
-- of the existing row when this helper event was already recorded.
CREATE FUNCTION record_port_opened(
    p_service          VARCHAR,
    p_external_port    INTEGER,
    p_internal_port    INTEGER,
    p_opened_by        VARCHAR,
    p_duration_minutes INTEGER,
    p_server_ip        VARCHAR DEFAULT NULL,
    p_connection_info  JSONB DEFAULT NULL,
    p_grant_id         VARCHAR DEFAULT NULL,
    p_helper_seq       BIGINT DEFAULT NULL,
    p_opened_at        TIMESTAMPTZ DEFAULT now(),
    p_expires_at       TIMESTAMPTZ DEFAULT NULL,
    p_source           VARCHAR DEFAULT NULL
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    new_id BIGINT;
BEGIN
    INSERT INTO monitoring_port_access (service, external_port, internal_port, action, opened_by, opened_at,
                                        expires_at, duration_minutes, source, server_ip, connection_info,
                                        grant_id, helper_seq)
    VALUES (p_service, p_external_port, p_internal_port, 'opened', p_opened_by, p_opened_at,
            COALESCE(p_expires_at, p_opened_at + make_interval(mins => p_duration_minutes)), p_duration_minutes,
            p_source, p_server_ip, p_connection_info, COALESCE(p_grant_id, gen_random_uuid()::text), p_helper_seq)
    ON CONFLICT (helper_seq) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        SELECT id INTO new_id FROM monitoring_port_access WHERE helper_seq = p_helper_seq;
    END IF;
    RETURN new_id;
END;
$$;

-- Records a close as its own row. closed_by and the reason are stored. Without a grant id the
-- most recent open door of (service, port) is the one closed, as in the seed. Returns the new
-- row id, NULL if there was no open door to close, or the existing id for a repeated event.
CREATE FUNCTION record_port_closed(
    p_service       VARCHAR,
    p_external_port INTEGER,
    p_closed_by     VARCHAR,
    p_auto_closed   BOOLEAN DEFAULT false,
    p_reason        TEXT DEFAULT NULL,
    p_grant_id      VARCHAR DEFAULT NULL,
    p_helper_seq    BIGINT DEFAULT NULL,
    p_closed_at     TIMESTAMPTZ DEFAULT now()
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    opened monitoring_port_access%ROWTYPE;
    new_id BIGINT;
BEGIN
    IF p_helper_seq IS NOT NULL THEN
        SELECT id INTO new_id FROM monitoring_port_access WHERE helper_seq = p_helper_seq;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
    END IF;
    SELECT * INTO opened FROM monitoring_port_access o
    WHERE o.action = 'opened'
      AND (p_grant_id IS NULL OR o.grant_id = p_grant_id)
      AND (p_grant_id IS NOT NULL OR (o.service = p_service AND o.external_port = p_external_port))
      AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action <> 'opened' AND c.grant_id = o.grant_id)
    ORDER BY o.opened_at DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO monitoring_port_access (service, external_port, internal_port, action, opened_by, opened_at,
                                        expires_at, closed_at, closed_by, close_reason, duration_minutes, source,
                                        server_ip, connection_info, grant_id, helper_seq)
    VALUES (opened.service, opened.external_port, opened.internal_port,
            CASE WHEN p_auto_closed THEN 'expired' ELSE 'closed' END,
            opened.opened_by, opened.opened_at, opened.expires_at, p_closed_at, p_closed_by, p_reason,
            opened.duration_minutes, opened.source, opened.server_ip, opened.connection_info, opened.grant_id,
            p_helper_seq)
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

-- Doors whose deadline passed with no close recorded (the helper closes them; this finds
-- audit rows still waiting for their close event).
CREATE FUNCTION find_expired_ports()
RETURNS TABLE (service VARCHAR, external_port INTEGER, opened_by VARCHAR, opened_at TIMESTAMPTZ,
               expires_at TIMESTAMPTZ, grant_id VARCHAR)
LANGUAGE sql STABLE AS $$
    SELECT o.service, o.external_port, o.opened_by, o.opened_at, o.expires_at, o.grant_id
    FROM monitoring_port_access o
    WHERE o.action = 'opened'
      AND o.expires_at <= now()
      AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action <> 'opened' AND c.grant_id = o.grant_id)
    ORDER BY o.expires_at;
$$;

-- 009: doors whose deadline changes (action 'extended'), and the reason given for an open or an
-- extension.
--
-- An extension is its own row, like an open and a close: action 'extended', the open's grant_id,
-- the new deadline in expires_at, the one before in previous_expires_at, who changed it and when
-- (extended_by, extended_at) and why (reason). The trail stays append-only. A door's deadline is
-- the expires_at of its latest extension, else its open's; a door's close is its 'closed' or
-- 'expired' row (no longer "any row that is not 'opened'", which an extension would also be).
-- Rows written before this migration satisfy the new checks as they are.

ALTER TABLE monitoring_port_access
    ADD COLUMN reason              TEXT,
    ADD COLUMN extended_by         VARCHAR(100),
    ADD COLUMN extended_at         TIMESTAMPTZ,
    ADD COLUMN previous_expires_at TIMESTAMPTZ;

COMMENT ON COLUMN monitoring_port_access.reason IS 'Why the door was opened (opened rows) or its deadline changed (extended rows), as the admin gave it; NULL if none.';
COMMENT ON COLUMN monitoring_port_access.extended_by IS 'Who changed the deadline (extended rows).';
COMMENT ON COLUMN monitoring_port_access.extended_at IS 'When the deadline was changed (extended rows).';
COMMENT ON COLUMN monitoring_port_access.previous_expires_at IS 'The deadline before the change (extended rows); expires_at holds the new one.';
COMMENT ON COLUMN monitoring_port_access.action IS 'opened; extended (deadline changed); closed (by an admin or the system, see closed_by); expired (deadline reached).';

-- The two checks of 001 on action, whatever names PostgreSQL gave them, replaced by named ones.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'monitoring_port_access'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%action%'
    LOOP
        EXECUTE format('ALTER TABLE monitoring_port_access DROP CONSTRAINT %I', c.conname);
    END LOOP;
END;
$$;

ALTER TABLE monitoring_port_access
    ADD CONSTRAINT monitoring_port_access_action_known
        CHECK (action IN ('opened', 'extended', 'closed', 'expired')),
    ADD CONSTRAINT monitoring_port_access_closed_rows
        CHECK ((action IN ('closed', 'expired')) = (closed_at IS NOT NULL)),
    ADD CONSTRAINT monitoring_port_access_extended_rows
        CHECK ((action = 'extended') = (extended_at IS NOT NULL AND extended_by IS NOT NULL AND expires_at IS NOT NULL));

CREATE INDEX monitoring_port_access_extended_idx ON monitoring_port_access (grant_id, id DESC) WHERE action = 'extended';

-- A door's deadline now: its latest extension's, else its open's. Latest by row order, which is
-- the helper's event order (the drain records events in sequence), not by extended_at: the
-- helper's wall clock may step back between two extensions.
CREATE FUNCTION monitoring_door_deadline(p_grant_id VARCHAR, p_opened_expires_at TIMESTAMPTZ) RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT e.expires_at FROM monitoring_port_access e
                     WHERE e.action = 'extended' AND e.grant_id = p_grant_id
                     ORDER BY e.id DESC LIMIT 1), p_opened_expires_at);
$$;

CREATE OR REPLACE VIEW monitoring_ports_currently_open AS
SELECT o.service,
       o.external_port,
       o.internal_port,
       o.opened_by,
       o.opened_at,
       monitoring_door_deadline(o.grant_id, o.expires_at) AS expires_at,
       EXTRACT(EPOCH FROM (monitoring_door_deadline(o.grant_id, o.expires_at) - now())) / 60 AS minutes_remaining,
       o.source,
       o.server_ip,
       o.connection_info,
       o.grant_id,
       o.reason
FROM monitoring_port_access o
WHERE o.action = 'opened'
  AND monitoring_door_deadline(o.grant_id, o.expires_at) > now()
  AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c
                  WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id)
ORDER BY 6;

CREATE OR REPLACE VIEW monitoring_port_access_history AS
SELECT o.id,
       o.service,
       o.external_port,
       o.internal_port,
       COALESCE(c.action, 'opened') AS status,
       o.opened_by,
       o.opened_at,
       monitoring_door_deadline(o.grant_id, o.expires_at) AS expires_at,
       c.closed_at,
       c.closed_by,
       c.close_reason,
       o.duration_minutes AS requested_duration_minutes,
       EXTRACT(EPOCH FROM (c.closed_at - o.opened_at)) / 60 AS actual_duration_minutes,
       o.source,
       o.server_ip,
       o.connection_info,
       o.grant_id,
       o.reason,
       (SELECT count(*) FROM monitoring_port_access e WHERE e.action = 'extended' AND e.grant_id = o.grant_id) AS extension_count
FROM monitoring_port_access o
LEFT JOIN LATERAL (SELECT * FROM monitoring_port_access c
                   WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id
                   ORDER BY c.closed_at LIMIT 1) c ON true
WHERE o.action = 'opened'
ORDER BY o.opened_at DESC;

-- The open gains its reason (last, defaulted: the seed's call forms and 001's keep working).
DROP FUNCTION record_port_opened(VARCHAR, INTEGER, INTEGER, VARCHAR, INTEGER, VARCHAR, JSONB, VARCHAR, BIGINT,
                                 TIMESTAMPTZ, TIMESTAMPTZ, VARCHAR);

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
    p_source           VARCHAR DEFAULT NULL,
    p_reason           TEXT DEFAULT NULL
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    new_id BIGINT;
BEGIN
    INSERT INTO monitoring_port_access (service, external_port, internal_port, action, opened_by, opened_at,
                                        expires_at, duration_minutes, source, server_ip, connection_info,
                                        grant_id, helper_seq, reason)
    VALUES (p_service, p_external_port, p_internal_port, 'opened', p_opened_by, p_opened_at,
            COALESCE(p_expires_at, p_opened_at + make_interval(mins => p_duration_minutes)), p_duration_minutes,
            p_source, p_server_ip, p_connection_info, COALESCE(p_grant_id, gen_random_uuid()::text), p_helper_seq,
            NULLIF(p_reason, ''))
    ON CONFLICT (helper_seq) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        SELECT id INTO new_id FROM monitoring_port_access WHERE helper_seq = p_helper_seq;
    END IF;
    RETURN new_id;
END;
$$;

-- Records a changed deadline as its own row, copied from the door's open. Returns the new row id,
-- the existing id for a repeated event, or NULL when the trail has no open door of that grant
-- (its open was never recorded, or it is closed already).
CREATE FUNCTION record_port_extended(
    p_grant_id            VARCHAR,
    p_extended_by         VARCHAR,
    p_expires_at          TIMESTAMPTZ,
    p_previous_expires_at TIMESTAMPTZ DEFAULT NULL,
    p_reason              TEXT DEFAULT NULL,
    p_helper_seq          BIGINT DEFAULT NULL,
    p_extended_at         TIMESTAMPTZ DEFAULT now()
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
    WHERE o.action = 'opened' AND o.grant_id = p_grant_id
      AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id)
    ORDER BY o.opened_at DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO monitoring_port_access (service, external_port, internal_port, action, opened_by, opened_at,
                                        expires_at, duration_minutes, source, server_ip, connection_info, grant_id,
                                        helper_seq, reason, extended_by, extended_at, previous_expires_at)
    VALUES (opened.service, opened.external_port, opened.internal_port, 'extended', opened.opened_by, opened.opened_at,
            p_expires_at, opened.duration_minutes, opened.source, opened.server_ip, opened.connection_info,
            opened.grant_id, p_helper_seq, NULLIF(p_reason, ''), p_extended_by, p_extended_at,
            COALESCE(p_previous_expires_at, monitoring_door_deadline(opened.grant_id, opened.expires_at)))
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

-- As in 001, but a close is a 'closed' or 'expired' row, and the close row carries the door's
-- deadline as it last stood.
CREATE OR REPLACE FUNCTION record_port_closed(
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
      AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id)
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
            opened.opened_by, opened.opened_at, monitoring_door_deadline(opened.grant_id, opened.expires_at),
            p_closed_at, p_closed_by, p_reason, opened.duration_minutes, opened.source, opened.server_ip,
            opened.connection_info, opened.grant_id, p_helper_seq)
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

CREATE OR REPLACE FUNCTION find_expired_ports()
RETURNS TABLE (service VARCHAR, external_port INTEGER, opened_by VARCHAR, opened_at TIMESTAMPTZ,
               expires_at TIMESTAMPTZ, grant_id VARCHAR)
LANGUAGE sql STABLE AS $$
    SELECT o.service, o.external_port, o.opened_by, o.opened_at, monitoring_door_deadline(o.grant_id, o.expires_at),
           o.grant_id
    FROM monitoring_port_access o
    WHERE o.action = 'opened'
      AND monitoring_door_deadline(o.grant_id, o.expires_at) <= now()
      AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c
                      WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id)
    ORDER BY 5;
$$;

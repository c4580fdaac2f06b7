-- 012: several servers on one database. Each server's api-daemon records its own firewall
-- helper's events, and every helper numbers its events from 1: an event is now one server's
-- (server_ip) numbered event, not a number alone. Before this, a second server's event 5 was taken
-- for the first's and dropped.
--
-- server_ip is the server's address as its api-daemon knows it (SMS_BRIDGE_SERVER_IP, else the
-- helper's default-route address). Rows recorded before this migration have none (NULL): they are
-- one server's, numbered in one sequence, and stay unique as they are.

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conrelid::regclass AS tab, conname FROM pg_constraint
             WHERE conrelid IN ('monitoring_port_access'::regclass, 'firewall_incidents'::regclass) AND contype = 'u'
               AND pg_get_constraintdef(oid) = 'UNIQUE (helper_seq)'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tab, c.conname);
    END LOOP;
END;
$$;

CREATE UNIQUE INDEX monitoring_port_access_server_seq_key ON monitoring_port_access ((COALESCE(server_ip, '')), helper_seq);
COMMENT ON COLUMN monitoring_port_access.helper_seq IS 'The event sequence number of the firewall helper of server_ip: recording one server''s event twice is refused.';
COMMENT ON COLUMN monitoring_port_access.server_ip IS 'The server whose firewall helper holds (held) the door; NULL on rows recorded before 012.';

ALTER TABLE firewall_incidents ADD COLUMN server_ip VARCHAR(64);
CREATE UNIQUE INDEX firewall_incidents_server_seq_key ON firewall_incidents ((COALESCE(server_ip, '')), helper_seq);
COMMENT ON COLUMN firewall_incidents.server_ip IS 'The server whose firewall helper reported it; NULL on rows recorded before 012.';

-- The event already recorded under this server and number, if any.
CREATE FUNCTION monitoring_event_row(p_server_ip VARCHAR, p_helper_seq BIGINT) RETURNS BIGINT
LANGUAGE sql STABLE AS $$
    SELECT id FROM monitoring_port_access
    WHERE p_helper_seq IS NOT NULL AND helper_seq = p_helper_seq AND COALESCE(server_ip, '') = COALESCE(p_server_ip, '');
$$;

CREATE OR REPLACE FUNCTION record_port_opened(
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
    ON CONFLICT ((COALESCE(server_ip, '')), helper_seq) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        new_id := monitoring_event_row(p_server_ip, p_helper_seq);
    END IF;
    RETURN new_id;
END;
$$;

-- As in 009, with the server whose helper numbered the event (last, defaulted: 009's call forms
-- keep working). A repeated event is one of this server's numbers; the row written for a new one
-- carries the server of the door's open.
DROP FUNCTION record_port_extended(VARCHAR, VARCHAR, TIMESTAMPTZ, TIMESTAMPTZ, TEXT, BIGINT, TIMESTAMPTZ);

CREATE FUNCTION record_port_extended(
    p_grant_id            VARCHAR,
    p_extended_by         VARCHAR,
    p_expires_at          TIMESTAMPTZ,
    p_previous_expires_at TIMESTAMPTZ DEFAULT NULL,
    p_reason              TEXT DEFAULT NULL,
    p_helper_seq          BIGINT DEFAULT NULL,
    p_extended_at         TIMESTAMPTZ DEFAULT now(),
    p_server_ip           VARCHAR DEFAULT NULL
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    opened monitoring_port_access%ROWTYPE;
    new_id BIGINT;
BEGIN
    new_id := monitoring_event_row(p_server_ip, p_helper_seq);
    IF new_id IS NOT NULL THEN
        RETURN new_id;
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
            p_expires_at, opened.duration_minutes, opened.source, COALESCE(p_server_ip, opened.server_ip),
            opened.connection_info, opened.grant_id, p_helper_seq, NULLIF(p_reason, ''), p_extended_by, p_extended_at,
            COALESCE(p_previous_expires_at, monitoring_door_deadline(opened.grant_id, opened.expires_at)))
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

-- As in 009, with the server. A close named by service and port (no grant id) is looked for among
-- that server's doors: two servers may each have a door on the same port.
DROP FUNCTION record_port_closed(VARCHAR, INTEGER, VARCHAR, BOOLEAN, TEXT, VARCHAR, BIGINT, TIMESTAMPTZ);

CREATE FUNCTION record_port_closed(
    p_service       VARCHAR,
    p_external_port INTEGER,
    p_closed_by     VARCHAR,
    p_auto_closed   BOOLEAN DEFAULT false,
    p_reason        TEXT DEFAULT NULL,
    p_grant_id      VARCHAR DEFAULT NULL,
    p_helper_seq    BIGINT DEFAULT NULL,
    p_closed_at     TIMESTAMPTZ DEFAULT now(),
    p_server_ip     VARCHAR DEFAULT NULL
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    opened monitoring_port_access%ROWTYPE;
    new_id BIGINT;
BEGIN
    new_id := monitoring_event_row(p_server_ip, p_helper_seq);
    IF new_id IS NOT NULL THEN
        RETURN new_id;
    END IF;
    SELECT * INTO opened FROM monitoring_port_access o
    WHERE o.action = 'opened'
      AND (p_grant_id IS NULL OR o.grant_id = p_grant_id)
      AND (p_grant_id IS NOT NULL OR (o.service = p_service AND o.external_port = p_external_port
                                      AND (p_server_ip IS NULL OR o.server_ip IS NULL OR o.server_ip = p_server_ip)))
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
            p_closed_at, p_closed_by, p_reason, opened.duration_minutes, opened.source,
            COALESCE(p_server_ip, opened.server_ip), opened.connection_info, opened.grant_id, p_helper_seq)
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

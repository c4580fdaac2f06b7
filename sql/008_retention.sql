-- 008: retention. sms-bridge-api deletes rows older than SMS_BRIDGE_RETENTION_DAYS (at least 31)
-- from sms_bridge_logs, admin_auth_events, spent or expired onboarding_codes and delivered
-- sync_outbox items; the doors' audit trail (monitoring_port_access) is kept. admin_auth_events
-- stays append-only for everyone else: its trigger lets a DELETE through only inside a
-- transaction that declares itself retention (sms_bridge.retention = 'on'), and only for rows
-- older than a day.

CREATE OR REPLACE FUNCTION admin_auth_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sms_bridge.retention', true) = 'on' AND OLD.at < now() - interval '1 day' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'admin_auth_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE INDEX sync_outbox_delivered_idx ON sync_outbox (delivered_at) WHERE status = 'delivered';
CREATE INDEX onboarding_codes_generated_idx ON onboarding_codes (generated_at);

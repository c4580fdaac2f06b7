-- 013: every api-daemon keeps the admins and sessions it has looked up in memory while it listens on
-- this channel; any change to those rows, from a daemon or the CLI, tells them all to forget.
-- One notification per statement: PostgreSQL folds identical ones within a transaction, and the
-- listeners forget everything anyway, so the payload carries nothing.
CREATE FUNCTION admin_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sms_bridge_admins', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER admin_users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_users
    FOR EACH STATEMENT EXECUTE FUNCTION admin_rows_changed();
CREATE TRIGGER admin_totp_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_totp
    FOR EACH STATEMENT EXECUTE FUNCTION admin_rows_changed();
CREATE TRIGGER admin_sessions_changed AFTER UPDATE OR DELETE OR TRUNCATE ON admin_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION admin_rows_changed();

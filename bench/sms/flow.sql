-- pgbench's ceiling for the SMS benchmark: the statements sms-bridge-api runs for one
-- /sms/receive and one /pin-setup, with the same transactions and commits, on its own numbers
-- (the receive's checks and writes inside the number's advisory lock, as the api takes it).
SELECT nextval('bench_pgbench_seq') AS i \gset
SELECT pg_advisory_lock(hashtextextended('sms-number:' || md5(:i::text) || md5(:i::text), 0));
SELECT count(*) FROM sms_bridge_logs WHERE event = 'receive' AND mobile_hash = md5(:i::text) || md5(:i::text) AND at > now() - interval '1 hour';
SELECT 1 FROM sms_blacklist WHERE mobile_number = '+9180' || lpad(:i::text, 8, '0');
BEGIN;
UPDATE onboarding_codes SET consumed_at = now() WHERE hash = 'P' || lpad(:i::text, 7, '0') AND mobile_number = '+9180' || lpad(:i::text, 8, '0') AND consumed_at IS NULL AND expires_at > now() RETURNING email, device_id;
INSERT INTO verified_numbers (mobile_number, hash, email, device_id) VALUES ('+9180' || lpad(:i::text, 8, '0'), 'P' || lpad(:i::text, 7, '0'), NULL, NULL) ON CONFLICT (mobile_number) DO UPDATE SET hash = EXCLUDED.hash, email = EXCLUDED.email, device_id = EXCLUDED.device_id, verified_at = now(), pin_consumed_at = NULL;
INSERT INTO sms_bridge_logs (event, status, mobile_masked, mobile_hash, message_id, detail) VALUES ('receive', 'received', '+91******0000', md5(:i::text) || md5(:i::text), md5(random()::text), 'verified');
COMMIT;
SELECT pg_advisory_unlock(hashtextextended('sms-number:' || md5(:i::text) || md5(:i::text), 0));
BEGIN;
UPDATE verified_numbers SET pin_consumed_at = now() WHERE mobile_number = '+9180' || lpad(:i::text, 8, '0') AND hash = 'P' || lpad(:i::text, 7, '0') AND pin_consumed_at IS NULL RETURNING email, device_id, verified_at;
INSERT INTO sync_outbox (mobile_number, payload, pin) VALUES ('+9180' || lpad(:i::text, 8, '0'), '{"mobile_number": "x"}'::jsonb, '1234') RETURNING idempotency_key;
INSERT INTO sms_bridge_logs (event, status, mobile_masked, mobile_hash, message_id, detail) VALUES ('pin_setup', 'success', '+91******0000', md5(:i::text) || md5(:i::text), NULL, 'queued for delivery');
COMMIT;

-- 007: PINs in sync_outbox are stored sealed (libsodium secretbox, key derived from
-- SMS_BRIDGE_HMAC_SECRET: "v1:" + hex, about 110 characters), no longer as digits. Items queued
-- before this migration keep their plaintext PIN until delivered or wiped by retention; the
-- daemon reads both.

ALTER TABLE sync_outbox ALTER COLUMN pin TYPE TEXT;
COMMENT ON COLUMN sync_outbox.pin IS 'sealed PIN (v1:hex); NULL once delivered or past SMS_BRIDGE_PIN_RETENTION_SECONDS';

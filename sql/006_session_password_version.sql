-- 006: a browser session belongs to one password of its admin. A session is valid only while
-- its admin's password_version is the one that was verified when it was created, so
-- `sms-bridge-api admin passwd` ends every session of that admin at once, including one whose
-- login was being verified while the password changed. Sessions from before this migration have
-- version 0, which no admin has: they end, and their admins log in again once.

ALTER TABLE admin_sessions ADD COLUMN password_version INTEGER NOT NULL DEFAULT 0;

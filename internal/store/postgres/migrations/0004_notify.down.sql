DROP FUNCTION sluice_try_jsonb(text);
DROP INDEX steps_failed;
ALTER TABLE flows DROP COLUMN repair_emails;
DROP TABLE user_settings;
DROP TABLE alerts;
DROP TABLE outbox;
DROP TABLE notifications;
DROP TABLE events;

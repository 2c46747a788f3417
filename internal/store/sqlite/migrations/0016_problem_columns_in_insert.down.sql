CREATE TRIGGER steps_error_flow_insert AFTER INSERT ON steps WHEN NEW.error_code IS NOT NULL
BEGIN
    UPDATE steps SET (error_flow_id, error_run_created_at) = (SELECT r.flow_id, r.created_at FROM runs r WHERE r.id = NEW.run_id)
    WHERE run_id = NEW.run_id AND key = NEW.key;
END;

CREATE TRIGGER steps_error_flow_update AFTER UPDATE OF error_code ON steps WHEN NEW.error_code IS NOT NULL AND NEW.error_flow_id IS NULL
BEGIN
    UPDATE steps SET (error_flow_id, error_run_created_at) = (SELECT r.flow_id, r.created_at FROM runs r WHERE r.id = NEW.run_id)
    WHERE run_id = NEW.run_id AND key = NEW.key;
END;

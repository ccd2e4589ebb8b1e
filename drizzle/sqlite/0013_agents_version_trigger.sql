-- An organization's agents version (src/db/versions.ts: the key of its cached agent list) moves
-- with every change to its agents, in the statement that makes the change: the two commit
-- together, whatever wrote the row, and no process can see new agents under the old version.
CREATE TRIGGER agents_version_after_insert AFTER INSERT ON agents BEGIN
  INSERT INTO settings (key, value, updated_at) VALUES ('version:agents:' || NEW.organization_id, '1', CAST(unixepoch('subsec') * 1000 AS INTEGER))
  ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at;
END;
--> statement-breakpoint
CREATE TRIGGER agents_version_after_update AFTER UPDATE ON agents BEGIN
  INSERT INTO settings (key, value, updated_at)
  SELECT 'version:agents:' || org, '1', CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM (SELECT NEW.organization_id AS org UNION SELECT OLD.organization_id) WHERE true
  ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at;
END;
--> statement-breakpoint
CREATE TRIGGER agents_version_after_delete AFTER DELETE ON agents BEGIN
  INSERT INTO settings (key, value, updated_at) VALUES ('version:agents:' || OLD.organization_id, '1', CAST(unixepoch('subsec') * 1000 AS INTEGER))
  ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at;
END;

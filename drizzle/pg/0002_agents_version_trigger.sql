-- An organization's agents version (src/db/versions.ts: the key of its cached agent list) moves
-- with every change to its agents, in the statement that makes the change: the two commit
-- together, whatever wrote the row, and no instance can see new agents under the old version.
-- The row lock on the version is taken inside that statement and released at its commit, with
-- no round trip to the application in between.
CREATE FUNCTION agents_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO settings (key, value, updated_at) VALUES ('version:agents:' || OLD.organization_id, '1', now())
    ON CONFLICT (key) DO UPDATE SET value = (CAST(settings.value AS integer) + 1)::text, updated_at = EXCLUDED.updated_at;
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.organization_id IS DISTINCT FROM OLD.organization_id) THEN
    INSERT INTO settings (key, value, updated_at) VALUES ('version:agents:' || NEW.organization_id, '1', now())
    ON CONFLICT (key) DO UPDATE SET value = (CAST(settings.value AS integer) + 1)::text, updated_at = EXCLUDED.updated_at;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER agents_version AFTER INSERT OR UPDATE OR DELETE ON agents FOR EACH ROW EXECUTE FUNCTION agents_version_bump();

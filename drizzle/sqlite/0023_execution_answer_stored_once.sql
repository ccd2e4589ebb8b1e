-- No change of schema: this migration marks the database as written by a build that stores a
-- completed run's answer once, in `executions.result`, its last message stored without its
-- content (src/db/schema/shared.ts storedMessages). A build before it reads such a message as
-- having no content: GET of the execution, its chat and its list answered 500, and every later
-- turn of its session failed at the model call. Through this migration an older binary refuses the
-- database ("migrated by a newer teamday"), as it refuses any database a newer build migrated,
-- and `restore` with an older binary refuses a backup of it.
SELECT 1;

-- The scopes of the credential that started each run (intersected along a delegation): what its
-- teamday_api calls may do besides what the space's TEAMDAY_TOKEN may (src/auth/plugin.ts). Null
-- before this migration: no limit.
ALTER TABLE `executions` ADD `scope_limit` text;
-- A session's completed turns, newest first, for one user: a run continuing the session weighs
-- them from the newest and stops at what fits (src/engine/store.ts, sessionHistory), where the
-- old index (organization, session, created_at) left the user, the status and the id to the table.
DROP INDEX `executions_session_idx`;--> statement-breakpoint
CREATE INDEX `executions_session_history_idx` ON `executions` (`organization_id`,`user_id`,`session_id`,`status`,`created_at`,`id`);
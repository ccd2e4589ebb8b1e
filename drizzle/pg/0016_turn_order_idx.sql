-- A chat's and a session's turns in the order they were created: (created_at, seq), where id (a
-- random string) broke the ties of turns created in one millisecond, both in what a chat shows and
-- in the history a run sends its model (src/modules/chats/service.ts, src/engine/store.ts
-- sessionHistory). The indexes those walk end in seq instead of id, so that order needs no sort.
-- Built under other names first, the old ones dropped only then: DROP INDEX locks the whole table
-- (reads too) until the migration commits, which a drop first held through both builds (about
-- 1 s per 100,000 executions); a build lets reads go on and holds writes to executions.
CREATE INDEX "executions_session_history_idx_next" ON "executions" USING btree ("organization_id","user_id","session_id","status","created_at","seq");--> statement-breakpoint
CREATE INDEX "executions_org_user_chat_idx_next" ON "executions" USING btree ("organization_id","user_id","chat_id","delegated","created_at","seq");--> statement-breakpoint
DROP INDEX "executions_session_history_idx";--> statement-breakpoint
DROP INDEX "executions_org_user_chat_idx";--> statement-breakpoint
ALTER INDEX "executions_session_history_idx_next" RENAME TO "executions_session_history_idx";--> statement-breakpoint
ALTER INDEX "executions_org_user_chat_idx_next" RENAME TO "executions_org_user_chat_idx";

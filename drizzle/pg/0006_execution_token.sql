-- The token whose request started each run (null before this migration and from the console): a
-- leak report of it cancels its runs under way (src/modules/executions/leaked.ts).
ALTER TABLE "executions" ADD COLUMN "token_id" text;--> statement-breakpoint
CREATE INDEX "executions_token_idx" ON "executions" USING btree ("token_id","status");
ALTER TABLE "executions" ALTER COLUMN "agent_id" DROP NOT NULL;--> statement-breakpoint
CREATE INDEX "executions_org_user_time_idx" ON "executions" USING btree ("organization_id","user_id","delegated","created_at","id");--> statement-breakpoint
CREATE INDEX "executions_org_user_chat_idx" ON "executions" USING btree ("organization_id","user_id","chat_id","delegated","created_at","id");
ALTER TABLE "executions" ADD COLUMN "instance_id" text;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "lease_expires_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "executions_lease_idx" ON "executions" USING btree ("status","lease_expires_at");
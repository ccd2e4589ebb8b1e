CREATE INDEX "audit_type_time_idx" ON "audit_events" USING btree ("type","created_at","id");--> statement-breakpoint
CREATE INDEX "audit_actor_time_idx" ON "audit_events" USING btree ("actor_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "pat_user_time_idx" ON "personal_access_tokens" USING btree ("user_id","created_at","id");
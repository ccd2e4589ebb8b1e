-- The tokens that may still work (not revoked, or revoked ahead of time by a rotation's grace
-- period), a user's and an organization's, newest first: for the count of a user's working tokens
-- that every token creation checks against TEAMDAY_MAX_TOKENS_PER_USER, and for the lists of
-- active and expired tokens (the console's token page lists the active ones by default). Revoked
-- tokens stay for good as the account's history: a CI job that makes and revokes a token per run
-- leaves one a run. On pat_user_org_idx / pat_org_idx the status was a filter that walked that
-- history (bench/history.ts, 50,000 revoked tokens: a creation 12 ms, the first page of the
-- active ones 17.5 ms). The statements name the predicate as a literal (src/modules/tokens/access.ts, liveTokenSql).
CREATE INDEX "pat_user_org_live_idx" ON "personal_access_tokens" USING btree ("user_id","organization_id","created_at","id") WHERE revoked_at IS NULL OR revoked_reason = 'rotated';--> statement-breakpoint
CREATE INDEX "pat_org_live_idx" ON "personal_access_tokens" USING btree ("organization_id","created_at","id") WHERE revoked_at IS NULL OR revoked_reason = 'rotated';
-- A user's working tokens, for the per-user cap (TEAMDAY_MAX_TOKENS_PER_USER) that every token
-- creation checks (src/modules/tokens/access.ts, countActiveTokens): the unrevoked ones by expiry,
-- then those in a rotation's grace period, on this index alone. On pat_user_org_idx the count read
-- every token the user ever had, revoked ones included: a CI job that makes and revokes a token
-- per run made each creation slower by its history (12 ms at 50,000 revoked: bench/history.ts).
CREATE INDEX `pat_user_org_revoked_idx` ON `personal_access_tokens` (`user_id`,`organization_id`,`revoked_at`,`expires_at`);
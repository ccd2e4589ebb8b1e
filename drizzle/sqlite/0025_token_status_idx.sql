-- The token lists of one status that still read the rest (PostgreSQL read the whole table:
-- 100,000 working tokens, the 50 oldest expired, 156 ms the first page of the expired ones):
-- the working tokens by expiry (the few expired among many working, or the few working among many
-- expired, are a range: PostgreSQL weighs it against the walk in list order by its statistics),
-- and the revoked history alone in list order (the revoked list). src/modules/tokens/service.ts,
-- listStatements; test/token-cap-history.test.ts.
CREATE INDEX `pat_user_org_expiry_idx` ON `personal_access_tokens` (`user_id`,`organization_id`,`expires_at`) WHERE revoked_at IS NULL OR revoked_reason = 'rotated';--> statement-breakpoint
CREATE INDEX `pat_org_expiry_idx` ON `personal_access_tokens` (`organization_id`,`expires_at`) WHERE revoked_at IS NULL OR revoked_reason = 'rotated';--> statement-breakpoint
CREATE INDEX `pat_user_org_revoked_idx` ON `personal_access_tokens` (`user_id`,`organization_id`,`created_at`,`id`) WHERE revoked_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX `pat_org_revoked_idx` ON `personal_access_tokens` (`organization_id`,`created_at`,`id`) WHERE revoked_at IS NOT NULL;
ALTER TABLE `personal_access_tokens` ADD `created_by_token_id` text;--> statement-breakpoint
CREATE INDEX `pat_created_by_idx` ON `personal_access_tokens` (`created_by_token_id`);
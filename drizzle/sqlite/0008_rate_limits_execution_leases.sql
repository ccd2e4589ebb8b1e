CREATE TABLE `rate_limit_counters` (
	`key` text PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`reset_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rate_limit_reset_idx` ON `rate_limit_counters` (`reset_at`);--> statement-breakpoint
ALTER TABLE `executions` ADD `instance_id` text;--> statement-breakpoint
ALTER TABLE `executions` ADD `lease_expires_at` integer;--> statement-breakpoint
CREATE INDEX `executions_lease_idx` ON `executions` (`status`,`lease_expires_at`);
ALTER TABLE `executions` ADD `instance_id` text;--> statement-breakpoint
ALTER TABLE `executions` ADD `lease_expires_at` integer;--> statement-breakpoint
CREATE INDEX `executions_lease_idx` ON `executions` (`status`,`lease_expires_at`);
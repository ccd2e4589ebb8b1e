DROP INDEX `executions_queue_idx`;--> statement-breakpoint
ALTER TABLE `executions` ADD `seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `executions_queue_idx` ON `executions` (`status`,`delegated`,`organization_id`,`created_at`,`seq`);
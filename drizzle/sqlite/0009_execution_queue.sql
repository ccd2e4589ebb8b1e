ALTER TABLE `executions` ADD `delegated` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `executions_queue_idx` ON `executions` (`status`,`delegated`,`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_started_idx` ON `executions` (`organization_id`,`delegated`,`started_at`);
ALTER TABLE `executions` ADD `delegated` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `executions_org_started_idx` ON `executions` (`organization_id`,`delegated`,`started_at`);
CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`role` text,
	`system_prompt` text,
	`description` text,
	`category` text,
	`visibility` text DEFAULT 'private' NOT NULL,
	`model` text,
	`tags` text DEFAULT '[]' NOT NULL,
	`advanced_tools` text DEFAULT '[]' NOT NULL,
	`allowed_tools` text DEFAULT '[]' NOT NULL,
	`disallowed_tools` text DEFAULT '[]' NOT NULL,
	`mcp_types` text DEFAULT '[]' NOT NULL,
	`mcp_instance_ids` text DEFAULT '[]' NOT NULL,
	`subagent_ids` text DEFAULT '[]' NOT NULL,
	`max_turns` integer,
	`archived` integer DEFAULT false NOT NULL,
	`archived_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `agents_org_idx` ON `agents` (`organization_id`,`archived`,`created_at`);--> statement-breakpoint
CREATE INDEX `agents_visibility_idx` ON `agents` (`visibility`,`archived`);--> statement-breakpoint
CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text,
	`type` text NOT NULL,
	`actor_user_id` text,
	`actor_token_id` text,
	`source` text NOT NULL,
	`token_id` text,
	`target_type` text,
	`target_id` text,
	`ip` text,
	`user_agent` text,
	`request_id` text,
	`details` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `audit_org_time_idx` ON `audit_events` (`organization_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `audit_token_idx` ON `audit_events` (`token_id`);--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`token_id` text NOT NULL,
	`key` text NOT NULL,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`request_hash` text NOT NULL,
	`state` text NOT NULL,
	`response_status` integer,
	`response_body` text,
	`response_headers` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `idempotency_token_key_unique` ON `idempotency_keys` (`token_id`,`key`);--> statement-breakpoint
CREATE INDEX `idempotency_expires_idx` ON `idempotency_keys` (`expires_at`);--> statement-breakpoint
CREATE TABLE `secrets` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`space_id` text,
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`value_enc` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`space_id`) REFERENCES `spaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secrets_scope_key_unique` ON `secrets` (`organization_id`,`scope`,`key`);--> statement-breakpoint
CREATE TABLE `spaces` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`created_by` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`visibility` text DEFAULT 'private' NOT NULL,
	`type` text DEFAULT 'empty' NOT NULL,
	`instructions` text,
	`agent_refs` text DEFAULT '[]' NOT NULL,
	`archived` integer DEFAULT false NOT NULL,
	`archived_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `spaces_org_idx` ON `spaces` (`organization_id`,`archived`,`created_at`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`created_by` text NOT NULL,
	`title` text NOT NULL,
	`description` text,
	`status` text DEFAULT 'pending' NOT NULL,
	`priority` text DEFAULT 'medium' NOT NULL,
	`assigned_to` text,
	`assignee_type` text,
	`space_id` text,
	`due_date` integer,
	`completed_at` integer,
	`metadata` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`space_id`) REFERENCES `spaces`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `tasks_org_idx` ON `tasks` (`organization_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_org_status_idx` ON `tasks` (`organization_id`,`status`);--> statement-breakpoint
ALTER TABLE `personal_access_tokens` ADD `revoked_reason` text;--> statement-breakpoint
ALTER TABLE `personal_access_tokens` ADD `family_id` text;--> statement-breakpoint
ALTER TABLE `personal_access_tokens` ADD `rotated_from_id` text;--> statement-breakpoint
CREATE INDEX `pat_family_idx` ON `personal_access_tokens` (`family_id`);
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_executions` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`user_id` text NOT NULL,
	`agent_id` text,
	`agent_name` text NOT NULL,
	`agent_visibility` text NOT NULL,
	`space_id` text,
	`chat_id` text NOT NULL,
	`session_id` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`message` text NOT NULL,
	`result` text,
	`error` text,
	`error_code` text,
	`model` text,
	`provider` text,
	`messages` text DEFAULT '[]' NOT NULL,
	`tool_calls` text DEFAULT '[]' NOT NULL,
	`parent_execution_id` text,
	`root_execution_id` text,
	`delegation_depth` integer DEFAULT 0 NOT NULL,
	`delegated` integer DEFAULT false NOT NULL,
	`started_at` integer,
	`completed_at` integer,
	`execution_time` integer,
	`tokens_input` integer DEFAULT 0 NOT NULL,
	`tokens_output` integer DEFAULT 0 NOT NULL,
	`instance_id` text,
	`lease_expires_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`seq` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`agent_id`) REFERENCES `agents`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`space_id`) REFERENCES `spaces`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
INSERT INTO `__new_executions`("id", "organization_id", "user_id", "agent_id", "agent_name", "agent_visibility", "space_id", "chat_id", "session_id", "status", "message", "result", "error", "error_code", "model", "provider", "messages", "tool_calls", "parent_execution_id", "root_execution_id", "delegation_depth", "delegated", "started_at", "completed_at", "execution_time", "tokens_input", "tokens_output", "instance_id", "lease_expires_at", "created_at", "updated_at", "seq") SELECT "id", "organization_id", "user_id", "agent_id", "agent_name", "agent_visibility", "space_id", "chat_id", "session_id", "status", "message", "result", "error", "error_code", "model", "provider", "messages", "tool_calls", "parent_execution_id", "root_execution_id", "delegation_depth", "delegated", "started_at", "completed_at", "execution_time", "tokens_input", "tokens_output", "instance_id", "lease_expires_at", "created_at", "updated_at", "seq" FROM `executions`;--> statement-breakpoint
DROP TABLE `executions`;--> statement-breakpoint
ALTER TABLE `__new_executions` RENAME TO `executions`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `executions_org_time_idx` ON `executions` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_agent_idx` ON `executions` (`organization_id`,`agent_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_status_idx` ON `executions` (`organization_id`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_space_idx` ON `executions` (`organization_id`,`space_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_parent_idx` ON `executions` (`parent_execution_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_session_idx` ON `executions` (`organization_id`,`session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `executions_org_user_time_idx` ON `executions` (`organization_id`,`user_id`,`delegated`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_user_chat_idx` ON `executions` (`organization_id`,`user_id`,`chat_id`,`delegated`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_status_idx` ON `executions` (`status`);--> statement-breakpoint
CREATE INDEX `executions_lease_idx` ON `executions` (`status`,`lease_expires_at`);--> statement-breakpoint
CREATE INDEX `executions_queue_idx` ON `executions` (`status`,`delegated`,`organization_id`,`created_at`,`seq`);--> statement-breakpoint
CREATE INDEX `executions_org_started_idx` ON `executions` (`organization_id`,`delegated`,`started_at`);--> statement-breakpoint
CREATE INDEX `executions_waiting_idx` ON `executions` (`organization_id`,`created_at`,`seq`,`lease_expires_at`) WHERE status = 'pending' AND delegated = 0;
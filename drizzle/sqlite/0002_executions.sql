CREATE TABLE `execution_logs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`execution_id` text NOT NULL,
	`level` text NOT NULL,
	`event` text NOT NULL,
	`data` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`execution_id`) REFERENCES `executions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `execution_logs_exec_idx` ON `execution_logs` (`execution_id`,`id`);--> statement-breakpoint
CREATE TABLE `executions` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`user_id` text NOT NULL,
	`agent_id` text NOT NULL,
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
	`started_at` integer,
	`completed_at` integer,
	`execution_time` integer,
	`tokens_input` integer DEFAULT 0 NOT NULL,
	`tokens_output` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`agent_id`) REFERENCES `agents`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`space_id`) REFERENCES `spaces`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `executions_org_time_idx` ON `executions` (`organization_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `executions_session_idx` ON `executions` (`organization_id`,`session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `executions_parent_idx` ON `executions` (`parent_execution_id`);--> statement-breakpoint
CREATE INDEX `executions_status_idx` ON `executions` (`status`);
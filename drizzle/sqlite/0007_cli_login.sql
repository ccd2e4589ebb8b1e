CREATE TABLE `cli_access_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`session_id` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`session_id`) REFERENCES `cli_sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cli_access_tokens_hash_unique` ON `cli_access_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `cli_access_tokens_session_idx` ON `cli_access_tokens` (`session_id`,`expires_at`);--> statement-breakpoint
CREATE TABLE `cli_login_codes` (
	`id` text PRIMARY KEY NOT NULL,
	`code_hash` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`request_ip_enc` text,
	`request_ua_enc` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`user_id` text,
	`organization_id` text,
	`decided_at` integer,
	`session_id` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cli_login_codes_hash_unique` ON `cli_login_codes` (`code_hash`);--> statement-breakpoint
CREATE INDEX `cli_login_codes_expires_idx` ON `cli_login_codes` (`expires_at`);--> statement-breakpoint
CREATE TABLE `cli_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`organization_id` text NOT NULL,
	`refresh_token_hash` text NOT NULL,
	`refresh_expires_at` integer NOT NULL,
	`user_agent_enc` text,
	`created_ip_enc` text,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`last_used_ip_enc` text,
	`revoked_at` integer,
	`revoked_by` text,
	`revoked_reason` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`organization_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cli_sessions_refresh_unique` ON `cli_sessions` (`refresh_token_hash`);--> statement-breakpoint
CREATE INDEX `cli_sessions_user_idx` ON `cli_sessions` (`user_id`,`organization_id`,`created_at`,`id`);
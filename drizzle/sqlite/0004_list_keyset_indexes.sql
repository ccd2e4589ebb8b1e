DROP INDEX `agents_org_idx`;--> statement-breakpoint
DROP INDEX `agents_visibility_idx`;--> statement-breakpoint
CREATE INDEX `agents_org_time_idx` ON `agents` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `agents_org_visibility_idx` ON `agents` (`organization_id`,`archived`,`visibility`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `agents_org_category_idx` ON `agents` (`organization_id`,`archived`,`category`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `agents_org_idx` ON `agents` (`organization_id`,`archived`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `agents_visibility_idx` ON `agents` (`visibility`,`archived`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `audit_org_time_idx`;--> statement-breakpoint
DROP INDEX `audit_token_idx`;--> statement-breakpoint
CREATE INDEX `audit_org_type_idx` ON `audit_events` (`organization_id`,`type`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_actor_idx` ON `audit_events` (`organization_id`,`actor_user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_time_idx` ON `audit_events` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_org_time_idx` ON `audit_events` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `audit_token_idx` ON `audit_events` (`token_id`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `executions_org_time_idx`;--> statement-breakpoint
DROP INDEX `executions_parent_idx`;--> statement-breakpoint
CREATE INDEX `executions_org_agent_idx` ON `executions` (`organization_id`,`agent_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_status_idx` ON `executions` (`organization_id`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_space_idx` ON `executions` (`organization_id`,`space_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_org_time_idx` ON `executions` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_parent_idx` ON `executions` (`parent_execution_id`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `pat_user_org_idx`;--> statement-breakpoint
DROP INDEX `pat_org_idx`;--> statement-breakpoint
CREATE INDEX `pat_user_org_idx` ON `personal_access_tokens` (`user_id`,`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `pat_org_idx` ON `personal_access_tokens` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `spaces_org_idx`;--> statement-breakpoint
CREATE INDEX `spaces_org_time_idx` ON `spaces` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `spaces_org_idx` ON `spaces` (`organization_id`,`archived`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `tasks_org_idx`;--> statement-breakpoint
DROP INDEX `tasks_org_status_idx`;--> statement-breakpoint
CREATE INDEX `tasks_org_priority_idx` ON `tasks` (`organization_id`,`priority`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_org_assignee_idx` ON `tasks` (`organization_id`,`assigned_to`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_org_space_idx` ON `tasks` (`organization_id`,`space_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_org_idx` ON `tasks` (`organization_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_org_status_idx` ON `tasks` (`organization_id`,`status`,`created_at`,`id`);
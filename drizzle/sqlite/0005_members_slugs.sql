-- Spaces get a slug; agents' slugs (derived from the name since 0000) become unique per organization.
-- Existing rows are backfilled here: a space's slug is its name in lower case with every run of
-- characters other than a-z/0-9 turned into one dash, trimmed, at most 64 characters ("space" when
-- nothing is left); a slug already taken in the organization (by an older row) gets "-" and the
-- last 8 characters of the row's id, lower-cased. Hand-written around drizzle-kit's statements:
-- SQLite cannot add a NOT NULL column without a default, and the unique indexes need the backfill.
ALTER TABLE `spaces` ADD `slug` text NOT NULL DEFAULT '';--> statement-breakpoint
CREATE TEMP TABLE `slug_backfill` (`id` text PRIMARY KEY, `organization_id` text NOT NULL, `created_at` integer NOT NULL, `slug` text NOT NULL);--> statement-breakpoint
INSERT INTO `slug_backfill` (`id`, `organization_id`, `created_at`, `slug`)
WITH RECURSIVE walk(id, organization_id, created_at, i, name, out) AS (
  SELECT id, organization_id, created_at, 1, lower(name), '' FROM spaces
  UNION ALL
  SELECT id, organization_id, created_at, i + 1, name,
    out || CASE WHEN substr(name, i, 1) BETWEEN 'a' AND 'z' OR substr(name, i, 1) BETWEEN '0' AND '9' THEN substr(name, i, 1) ELSE '-' END
  FROM walk WHERE i <= length(name)
)
SELECT id, organization_id, created_at, out FROM walk WHERE i = length(name) + 1;--> statement-breakpoint
UPDATE `slug_backfill` SET `slug` = trim(replace(replace(replace(replace(replace(replace(replace(replace(`slug`, '--', '-'), '--', '-'), '--', '-'), '--', '-'), '--', '-'), '--', '-'), '--', '-'), '--', '-'), '-');--> statement-breakpoint
UPDATE `slug_backfill` SET `slug` = rtrim(substr(`slug`, 1, 64), '-');--> statement-breakpoint
UPDATE `slug_backfill` SET `slug` = 'space' WHERE `slug` = '';--> statement-breakpoint
UPDATE `slug_backfill` SET `slug` = rtrim(substr(`slug`, 1, 55), '-') || '-' || lower(substr(`id`, -8))
WHERE `id` IN (
  SELECT `id` FROM (SELECT `id`, row_number() OVER (PARTITION BY `organization_id`, `slug` ORDER BY `created_at`, `id`) AS n FROM `slug_backfill`) WHERE n > 1
);--> statement-breakpoint
UPDATE `spaces` SET `slug` = (SELECT `slug` FROM `slug_backfill` WHERE `slug_backfill`.`id` = `spaces`.`id`);--> statement-breakpoint
DELETE FROM `slug_backfill`;--> statement-breakpoint
INSERT INTO `slug_backfill` (`id`, `organization_id`, `created_at`, `slug`) SELECT `id`, `organization_id`, `created_at`, `slug` FROM `agents`;--> statement-breakpoint
UPDATE `slug_backfill` SET `slug` = rtrim(substr(`slug`, 1, 55), '-') || '-' || lower(substr(`id`, -8))
WHERE `id` IN (
  SELECT `id` FROM (SELECT `id`, row_number() OVER (PARTITION BY `organization_id`, `slug` ORDER BY `created_at`, `id`) AS n FROM `slug_backfill`) WHERE n > 1
);--> statement-breakpoint
UPDATE `agents` SET `slug` = (SELECT `slug` FROM `slug_backfill` WHERE `slug_backfill`.`id` = `agents`.`id`) WHERE `id` IN (SELECT `id` FROM `slug_backfill` WHERE `slug_backfill`.`slug` <> `agents`.`slug`);--> statement-breakpoint
DROP TABLE `slug_backfill`;--> statement-breakpoint
CREATE UNIQUE INDEX `spaces_org_slug_unique` ON `spaces` (`organization_id`,`slug`);--> statement-breakpoint
CREATE UNIQUE INDEX `agents_org_slug_unique` ON `agents` (`organization_id`,`slug`);--> statement-breakpoint
CREATE INDEX `memberships_org_time_idx` ON `memberships` (`organization_id`,`created_at`,`id`);

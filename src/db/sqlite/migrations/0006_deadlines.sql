ALTER TABLE `jobs` ADD `billed_ms` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `deadline_at` integer;--> statement-breakpoint
CREATE INDEX `jobs_deadline` ON `jobs` (`deadline_at`) WHERE deadline_at is not null;
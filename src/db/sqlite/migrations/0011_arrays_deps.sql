CREATE TABLE `job_deps` (
	`job_id` text NOT NULL,
	`depends_on` text NOT NULL,
	`any_end` integer DEFAULT false NOT NULL,
	PRIMARY KEY(`job_id`, `depends_on`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`depends_on`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `job_deps_on` ON `job_deps` (`depends_on`);--> statement-breakpoint
ALTER TABLE `jobs` ADD `array_id` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `array_index` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `array_cap` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `held` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `has_dependents` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `jobs_array` ON `jobs` (`array_id`,`array_index`) WHERE array_id is not null;--> statement-breakpoint
CREATE INDEX `jobs_held` ON `jobs` (`created_at`) WHERE held = 1;
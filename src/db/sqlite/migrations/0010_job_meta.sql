ALTER TABLE `jobs` ADD `name` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `labels` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `env` text DEFAULT '{}' NOT NULL;
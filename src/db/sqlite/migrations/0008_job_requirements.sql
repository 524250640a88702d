ALTER TABLE `jobs` ADD `requirements` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `requires_python` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `install_failed_on` text DEFAULT '[]' NOT NULL;
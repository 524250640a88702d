ALTER TABLE `jobs` ADD `files_bytes` integer;--> statement-breakpoint
ALTER TABLE `uploads` ADD `files` integer DEFAULT 0 NOT NULL;
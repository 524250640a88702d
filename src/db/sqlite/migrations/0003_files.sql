CREATE TABLE `uploads` (
	`sha256` text NOT NULL,
	`owner_id` text NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`sha256`, `owner_id`),
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `attempts` ADD `outputs_sha256` text;--> statement-breakpoint
ALTER TABLE `attempts` ADD `outputs_bytes` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `inputs_sha256` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `inputs_bytes` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `outputs_sha256` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `outputs_bytes` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `output_files` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `wall_ms` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `cpu_ms` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `peak_memory_bytes` integer;
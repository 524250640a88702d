CREATE TABLE `attempts` (
	`job_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`worker_id` text NOT NULL,
	`assigned_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer,
	`outcome` text,
	`reason` text,
	`receipt` text,
	`signature` text,
	PRIMARY KEY(`job_id`, `attempt`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `jobs` ADD `priority` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `workers` ADD `public_key` text;
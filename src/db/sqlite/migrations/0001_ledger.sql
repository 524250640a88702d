CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`user_id` text,
	`balance` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "balance_not_negative" CHECK("accounts"."kind" = 'mint' OR "accounts"."balance" >= 0)
);
--> statement-breakpoint
CREATE TABLE `transfers` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`kind` text NOT NULL,
	`from_account` text NOT NULL,
	`to_account` text NOT NULL,
	`amount` integer NOT NULL,
	`job_id` text,
	`memo` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`from_account`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`to_account`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "amount_positive" CHECK("transfers"."amount" > 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `transfers_id_unique` ON `transfers` (`id`);--> statement-breakpoint
CREATE INDEX `transfers_from` ON `transfers` (`from_account`,`seq`);--> statement-breakpoint
CREATE INDEX `transfers_to` ON `transfers` (`to_account`,`seq`);--> statement-breakpoint
ALTER TABLE `jobs` ADD `max_cost` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `cost` integer;--> statement-breakpoint
ALTER TABLE `users` ADD `is_admin` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE TRIGGER `transfers_no_update` BEFORE UPDATE ON `transfers` BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
--> statement-breakpoint
CREATE TRIGGER `transfers_no_delete` BEFORE DELETE ON `transfers` BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
--> statement-breakpoint
INSERT INTO `accounts` (`id`, `kind`, `user_id`, `balance`) VALUES ('mint', 'mint', NULL, 0);
--> statement-breakpoint
INSERT INTO `accounts` (`id`, `kind`, `user_id`, `balance`) SELECT 'user:' || `id`, 'user', `id`, 0 FROM `users`;
--> statement-breakpoint
INSERT INTO `accounts` (`id`, `kind`, `user_id`, `balance`) SELECT 'escrow:' || `id`, 'escrow', `id`, 0 FROM `users`;
--> statement-breakpoint
UPDATE `users` SET `is_admin` = 1 WHERE `id` = (SELECT `id` FROM `users` ORDER BY `created_at`, `id` LIMIT 1);

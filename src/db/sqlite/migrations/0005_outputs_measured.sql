ALTER TABLE `attempts` ADD `outputs_files` integer;--> statement-breakpoint
ALTER TABLE `attempts` ADD `outputs_data_bytes` integer;
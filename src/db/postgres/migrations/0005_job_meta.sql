-- A job's name, labels and environment variables (issue 17: `--name`, `--label`, `-e`).
ALTER TABLE "jobs" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "labels" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "env" jsonb DEFAULT '{}'::jsonb NOT NULL;

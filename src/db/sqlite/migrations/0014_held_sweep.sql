-- The sweep of waiting jobs reads what changed, not every held job each second: jobs_dependents_done
-- holds the ended jobs others wait for, by when they ended; jobs_held gains the id after the time
-- (an array's members share one), so the full pass after a start goes in pages from key to key.
DROP INDEX `jobs_held`;--> statement-breakpoint
CREATE INDEX `jobs_dependents_done` ON `jobs` (`finished_at`,`id`) WHERE has_dependents = 1 and finished_at is not null;--> statement-breakpoint
CREATE INDEX `jobs_held` ON `jobs` (`created_at`,`id`) WHERE held = 1;
-- The sweep of waiting jobs reads what changed, not every held job each second: jobs_dependents_done
-- holds the ended jobs others wait for, by when they ended; jobs_held gains the id after the time
-- (an array's members share one), so the full pass after a start goes in pages from key to key.
-- The new indexes are built first and the old one dropped last (DROP INDEX locks reads of jobs).
CREATE INDEX "jobs_dependents_done" ON "jobs" ("finished_at", "id") WHERE has_dependents and finished_at is not null;--> statement-breakpoint
CREATE INDEX "jobs_held_by_id" ON "jobs" ("created_at", "id") WHERE held;--> statement-breakpoint
DROP INDEX "jobs_held";--> statement-breakpoint
ALTER INDEX "jobs_held_by_id" RENAME TO "jobs_held";

-- Live jobs by owner, indexed on what does not change while they run (finished_at is null until the
-- end): the index keyed by state rewrote its entry at every assignment and start.
DROP INDEX `jobs_queue`;--> statement-breakpoint
CREATE INDEX `jobs_live` ON `jobs` (`finished_at`,`owner_id`,`created_at`) WHERE finished_at is null;
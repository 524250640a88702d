-- A user's live jobs and their ended jobs with /out files, each a range of an index: the storage
-- quota read the user's every job (jobs_owner) on each upload. jobs_queue gains the owner after
-- the state (no more index entries per job than before); jobs_outputs holds only jobs that left
-- files. The new indexes are built first and the old one dropped last: DROP INDEX locks the table
-- against reads too, until the commit, so it should be short.
CREATE INDEX "jobs_outputs" ON "jobs" ("owner_id", "finished_at") WHERE outputs_sha256 is not null;--> statement-breakpoint
CREATE INDEX "uploads_owner" ON "uploads" ("owner_id", "created_at");--> statement-breakpoint
CREATE INDEX "jobs_queue_by_owner" ON "jobs" ("state", "owner_id", "created_at") WHERE state in ('queued','assigned','running');--> statement-breakpoint
DROP INDEX "jobs_queue";--> statement-breakpoint
ALTER INDEX "jobs_queue_by_owner" RENAME TO "jobs_queue";

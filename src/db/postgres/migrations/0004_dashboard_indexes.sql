-- The dashboard's figures from indexes alone: jobs that ended lately (the overview counts a range
-- of finished_at by state) and what each worker's ended jobs add up to (the workers page). Only
-- ended jobs are in them, so a live job costs them nothing until it ends.
CREATE INDEX "jobs_finished" ON "jobs" ("finished_at", "state") WHERE finished_at is not null;--> statement-breakpoint
CREATE INDEX "jobs_worker_done" ON "jobs" ("worker_id", "cost", "finished_at") WHERE finished_at is not null;

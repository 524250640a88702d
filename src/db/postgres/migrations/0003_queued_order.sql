-- The queue in fair-share order (owner, priority highest first, age, id), what a coordinator's
-- in-memory queue index loads at start: read in index order, 100,000 queued jobs need no sort.
-- Owner and id byte-wise, as SQLite compares them, so both engines give one order.
CREATE INDEX "jobs_queued_order" ON "jobs" ("owner_id" COLLATE "C", "priority" DESC, "created_at", "id" COLLATE "C") WHERE "state" = 'queued';

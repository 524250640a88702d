-- Arrays (`gridx submit --array`) and dependencies (`--after`): each member knows its array and
-- index; a job waiting for others is queued but held (the queue index skips it) until they end.
ALTER TABLE "jobs" ADD COLUMN "array_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "array_index" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "array_cap" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "held" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "has_dependents" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "jobs_array" ON "jobs" ("array_id", "array_index") WHERE array_id is not null;--> statement-breakpoint
CREATE INDEX "jobs_held" ON "jobs" ("created_at") WHERE held;--> statement-breakpoint
CREATE TABLE "job_deps" (
	"job_id" text NOT NULL REFERENCES "jobs"("id"),
	"depends_on" text NOT NULL REFERENCES "jobs"("id"),
	"any_end" boolean DEFAULT false NOT NULL,
	PRIMARY KEY ("job_id", "depends_on")
);--> statement-breakpoint
CREATE INDEX "job_deps_on" ON "job_deps" ("depends_on");

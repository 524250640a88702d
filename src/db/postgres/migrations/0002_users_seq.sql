-- The order accounts were made in, which the first account (the operator) and the operators' list
-- go by: SQLite has its rowid; accounts made in one millisecond (two coordinators, or a clock that
-- stands still) would otherwise be ordered by their random ids. Accounts are made one at a time
-- under an advisory lock, so the sequence is their creation order. Existing rows are numbered by
-- creation time, then id: the best order there is for them.
ALTER TABLE "users" ADD COLUMN "seq" bigint;
--> statement-breakpoint
UPDATE "users" SET "seq" = o.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM "users") o WHERE o.id = "users"."id";
--> statement-breakpoint
CREATE SEQUENCE "users_seq_seq" OWNED BY "users"."seq";
--> statement-breakpoint
SELECT setval('users_seq_seq', coalesce((SELECT max("seq") FROM "users"), 0) + 1, false);
--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "seq" SET DEFAULT nextval('users_seq_seq'), ALTER COLUMN "seq" SET NOT NULL;
--> statement-breakpoint
CREATE UNIQUE INDEX "users_seq_idx" ON "users" ("seq");

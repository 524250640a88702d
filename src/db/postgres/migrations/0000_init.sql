-- The schema of src/db/postgres/schema.ts as of SQLite's 0008_job_requirements, in one step.
-- Unqualified names: the tables go in the first schema of the role's search_path.
CREATE TABLE "accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"user_id" text,
	"balance" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "balance_not_negative" CHECK ("accounts"."kind" = 'mint' OR "accounts"."balance" >= 0)
);
--> statement-breakpoint
CREATE TABLE "attempts" (
	"job_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"worker_id" text NOT NULL,
	"assigned_at" bigint NOT NULL,
	"started_at" bigint,
	"ended_at" bigint,
	"outcome" text,
	"reason" text,
	"receipt" text,
	"signature" text,
	"outputs_sha256" text,
	"outputs_bytes" bigint,
	"outputs_files" bigint,
	"outputs_data_bytes" bigint,
	CONSTRAINT "attempts_job_id_attempt_pk" PRIMARY KEY("job_id","attempt")
);
--> statement-breakpoint
CREATE TABLE "invites" (
	"id" text PRIMARY KEY NOT NULL,
	"code_hash" text NOT NULL,
	"created_by" text NOT NULL,
	"grant_mc" bigint NOT NULL,
	"uses" integer NOT NULL,
	"used" integer DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"revoked_at" bigint,
	CONSTRAINT "invites_code_hash_unique" UNIQUE("code_hash"),
	CONSTRAINT "invite_uses" CHECK ("invites"."used" >= 0 AND "invites"."used" <= "invites"."uses"),
	CONSTRAINT "invite_grant" CHECK ("invites"."grant_mc" >= 0)
);
--> statement-breakpoint
CREATE TABLE "job_output" (
	"job_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"seq" integer NOT NULL,
	"stream" text NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "job_output_job_id_attempt_seq_pk" PRIMARY KEY("job_id","attempt","seq")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"state" text NOT NULL,
	"image" text NOT NULL,
	"command" jsonb NOT NULL,
	"script_name" text,
	"script" "bytea",
	"args" jsonb NOT NULL,
	"timeout_ms" bigint NOT NULL,
	"cpus" double precision NOT NULL,
	"memory_bytes" bigint NOT NULL,
	"attempt" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"worker_id" text,
	"lease_expires_at" bigint,
	"exit_code" integer,
	"outcome" text,
	"error" text,
	"output_bytes" bigint DEFAULT 0 NOT NULL,
	"inputs_sha256" text,
	"inputs_bytes" bigint,
	"files_bytes" bigint,
	"requirements" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"requires_python" text,
	"install_failed_on" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"outputs_sha256" text,
	"outputs_bytes" bigint,
	"output_files" bigint,
	"wall_ms" bigint,
	"billed_ms" bigint,
	"deadline_at" bigint,
	"cpu_ms" bigint,
	"peak_memory_bytes" bigint,
	"max_cost" bigint DEFAULT 0 NOT NULL,
	"cost" bigint,
	"created_at" bigint NOT NULL,
	"started_at" bigint,
	"finished_at" bigint
);
--> statement-breakpoint
CREATE TABLE "tokens" (
	"hash" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transfers" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"kind" text NOT NULL,
	"from_account" text NOT NULL,
	"to_account" text NOT NULL,
	"amount" bigint NOT NULL,
	"job_id" text,
	"memo" text,
	"created_at" bigint NOT NULL,
	CONSTRAINT "transfers_id_unique" UNIQUE("id"),
	CONSTRAINT "amount_positive" CHECK ("transfers"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "uploads" (
	"sha256" text NOT NULL,
	"owner_id" text NOT NULL,
	"bytes" bigint NOT NULL,
	"files" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "uploads_sha256_owner_id_pk" PRIMARY KEY("sha256","owner_id")
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"password_hash" text NOT NULL,
	"is_admin" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL,
	"invite_id" text,
	CONSTRAINT "users_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"name" text NOT NULL,
	"public_key" text,
	"first_seen_at" bigint NOT NULL,
	"last_seen_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attempts" ADD CONSTRAINT "attempts_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invites" ADD CONSTRAINT "invites_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_output" ADD CONSTRAINT "job_output_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tokens" ADD CONSTRAINT "tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transfers" ADD CONSTRAINT "transfers_from_account_accounts_id_fk" FOREIGN KEY ("from_account") REFERENCES "accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transfers" ADD CONSTRAINT "transfers_to_account_accounts_id_fk" FOREIGN KEY ("to_account") REFERENCES "accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_invite_id_invites_id_fk" FOREIGN KEY ("invite_id") REFERENCES "invites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workers" ADD CONSTRAINT "workers_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_owner" ON "jobs" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "jobs_queue" ON "jobs" USING btree ("state","created_at") WHERE state in ('queued','assigned','running');--> statement-breakpoint
CREATE INDEX "jobs_deadline" ON "jobs" USING btree ("deadline_at") WHERE deadline_at is not null;--> statement-breakpoint
CREATE INDEX "tokens_user" ON "tokens" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "transfers_from" ON "transfers" USING btree ("from_account","seq");--> statement-breakpoint
CREATE INDEX "transfers_to" ON "transfers" USING btree ("to_account","seq");--> statement-breakpoint
CREATE FUNCTION gridx_transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'transfers are append-only';
END
$$;
--> statement-breakpoint
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON "transfers" FOR EACH ROW EXECUTE FUNCTION gridx_transfers_append_only();
--> statement-breakpoint
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON "transfers" FOR EACH ROW EXECUTE FUNCTION gridx_transfers_append_only();
--> statement-breakpoint
-- TRUNCATE skips row triggers: a statement trigger refuses it too.
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON "transfers" FOR EACH STATEMENT EXECUTE FUNCTION gridx_transfers_append_only();
--> statement-breakpoint
INSERT INTO "accounts" ("id", "kind", "user_id", "balance") VALUES ('mint', 'mint', NULL, 0);

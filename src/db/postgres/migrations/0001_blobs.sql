-- Stored archives in the database (issue 14): every coordinator of the grid reads the same ones.
CREATE TABLE "blobs" (
	"sha256" text PRIMARY KEY NOT NULL,
	"bytes" bigint NOT NULL,
	"files" bigint NOT NULL,
	"data_bytes" bigint NOT NULL,
	"chunks" integer NOT NULL,
	"stored_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blob_chunks" (
	"sha256" text NOT NULL,
	"idx" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "blob_chunks_sha256_idx_pk" PRIMARY KEY("sha256","idx")
);
--> statement-breakpoint
-- Out of line and uncompressed: tar chunks are written and read whole, and compressing them
-- costs CPU on every upload for little (inputs are often compressed already).
ALTER TABLE "blob_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;

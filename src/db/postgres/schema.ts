import { sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
} from 'drizzle-orm/pg-core'

// The PostgreSQL twin of src/db/sqlite/schema.ts: the same tables, columns, checks and indexes,
// so both engines hand back rows of the same shape (the row types in store/types.ts are
// SQLite's). Millisecond times, byte counts and millicredits outgrow int4, hence int8 read as
// JS numbers (every value stays far below 2^53).

/** An int8 read as a JS number. */
const int8 = (name: string) => bigint(name, { mode: 'number' })

/** bytea as a Node Buffer, what the SQLite rows hold (the driver may hand back a Uint8Array). */
const bytes = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
})

/** A JSON array of strings (commands, arguments, package lines, worker ids). */
const strings = customType<{ data: string[]; driverData: string | string[] }>({
  dataType: () => 'jsonb',
  toDriver: (v) => JSON.stringify(v),
  fromDriver: (v) => (typeof v === 'string' ? (JSON.parse(v) as string[]) : v),
})

/**
 * A JSON object of strings (a job's labels and environment), stored as a jsonb object so that
 * containment (`@>`) selects by label: the driver encodes the object itself for a jsonb parameter.
 */
const stringMap = customType<{ data: Record<string, string>; driverData: string | Record<string, string> }>({
  dataType: () => 'jsonb',
  toDriver: (v) => v,
  fromDriver: (v) => (typeof v === 'string' ? (JSON.parse(v) as Record<string, string>) : v),
})

/**
 * Accounts. Passwords are argon2id hashes. The table also has `seq`, the order accounts were made
 * in (migration 0001), left out here so a row reads as the engine-neutral UserRow: see `usersMade`.
 */
export const users = pgTable('users', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  isAdmin: boolean('is_admin').notNull().default(false),
  createdAt: int8('created_at').notNull(),
  inviteId: text('invite_id').references((): AnyPgColumn => invites.id),
})

/** Invites an operator made; only the code's SHA-256 is stored. */
export const invites = pgTable(
  'invites',
  {
    id: text('id').primaryKey(),
    codeHash: text('code_hash').notNull().unique(),
    createdBy: text('created_by')
      .notNull()
      .references((): AnyPgColumn => users.id),
    grantMc: int8('grant_mc').notNull(),
    uses: integer('uses').notNull(),
    used: integer('used').notNull().default(0),
    createdAt: int8('created_at').notNull(),
    expiresAt: int8('expires_at').notNull(),
    revokedAt: int8('revoked_at'),
  },
  (t) => [
    check('invite_uses', sql`${t.used} >= 0 AND ${t.used} <= ${t.uses}`),
    check('invite_grant', sql`${t.grantMc} >= 0`),
  ],
)

/** Login tokens, stored only as SHA-256 hashes. */
export const tokens = pgTable(
  'tokens',
  {
    hash: text('hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    createdAt: int8('created_at').notNull(),
    expiresAt: int8('expires_at').notNull(),
  },
  (t) => [index('tokens_user').on(t.userId)],
)

/** Every worker that ever connected, pinned to its owner and signing key. */
export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  ownerId: text('owner_id')
    .notNull()
    .references(() => users.id),
  name: text('name').notNull(),
  publicKey: text('public_key'),
  firstSeenAt: int8('first_seen_at').notNull(),
  lastSeenAt: int8('last_seen_at').notNull(),
})

/** Jobs. The row is the truth: each transition is written here before it is acted on. */
export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    ownerId: text('owner_id')
      .notNull()
      .references(() => users.id),
    state: text('state', {
      enum: ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'],
    }).notNull(),
    image: text('image').notNull(),
    command: strings('command').notNull(),
    scriptName: text('script_name'),
    script: bytes('script'),
    args: strings('args').notNull(),
    timeoutMs: int8('timeout_ms').notNull(),
    cpus: doublePrecision('cpus').notNull(),
    memoryBytes: int8('memory_bytes').notNull(),
    attempt: integer('attempt').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    priority: integer('priority').notNull().default(0),
    workerId: text('worker_id'),
    leaseExpiresAt: int8('lease_expires_at'),
    exitCode: integer('exit_code'),
    outcome: text('outcome'),
    error: text('error'),
    outputBytes: int8('output_bytes').notNull().default(0),
    inputsSha256: text('inputs_sha256'),
    inputsBytes: int8('inputs_bytes'),
    filesBytes: int8('files_bytes'),
    requirements: strings('requirements')
      .notNull()
      .default(sql`'[]'::jsonb`),
    requiresPython: text('requires_python'),
    installFailedOn: strings('install_failed_on')
      .notNull()
      .default(sql`'[]'::jsonb`),
    outputsSha256: text('outputs_sha256'),
    outputsBytes: int8('outputs_bytes'),
    outputFiles: int8('output_files'),
    wallMs: int8('wall_ms'),
    billedMs: int8('billed_ms'),
    deadlineAt: int8('deadline_at'),
    cpuMs: int8('cpu_ms'),
    peakMemoryBytes: int8('peak_memory_bytes'),
    maxCost: int8('max_cost').notNull().default(0),
    cost: int8('cost'),
    createdAt: int8('created_at').notNull(),
    startedAt: int8('started_at'),
    finishedAt: int8('finished_at'),
    // --- job environment, name and labels (issue 17) ---
    name: text('name'),
    labels: stringMap('labels')
      .notNull()
      .default(sql`'{}'::jsonb`),
    env: stringMap('env')
      .notNull()
      .default(sql`'{}'::jsonb`),
    // --- end of job environment, name and labels ---
    // --- Arrays and dependencies (issue 17): see the SQLite schema ---
    arrayId: text('array_id'),
    arrayIndex: integer('array_index'),
    arrayCap: integer('array_cap'),
    held: boolean('held').notNull().default(false),
    hasDependents: boolean('has_dependents').notNull().default(false),
  },
  (t) => [
    index('jobs_owner').on(t.ownerId, t.createdAt),
    index('jobs_array')
      .on(t.arrayId, t.arrayIndex)
      .where(sql`array_id is not null`),
    // Held jobs by age, then id (see the SQLite schema).
    index('jobs_held')
      .on(t.createdAt, t.id)
      .where(sql`held`),
    // Live jobs by state, then owner: a user's live jobs are a range of it (see the SQLite schema).
    index('jobs_queue')
      .on(t.state, t.ownerId, t.createdAt)
      .where(sql`state in ('queued','assigned','running')`),
    index('jobs_deadline')
      .on(t.deadlineAt)
      .where(sql`deadline_at is not null`),
    // Only ended jobs, newest last: what ended lately (the dashboard's overview) is a range of it,
    // counted by state from the index alone, and live jobs cost it nothing until they end.
    index('jobs_finished')
      .on(t.finishedAt, t.state)
      .where(sql`finished_at is not null`),
    // What each worker's ended jobs add up to (the dashboard's workers page), from the index alone
    // (finished_at in it too, so the check that a job ended needs no read of the table).
    index('jobs_worker_done')
      .on(t.workerId, t.cost, t.finishedAt)
      .where(sql`finished_at is not null`),
    // Ended jobs that left /out files, by owner (the storage quota); jobs without outputs never enter it.
    index('jobs_outputs')
      .on(t.ownerId, t.finishedAt)
      .where(sql`outputs_sha256 is not null`),
    // Ended jobs that others wait for, by when they ended (see the SQLite schema).
    index('jobs_dependents_done')
      .on(t.finishedAt, t.id)
      .where(sql`has_dependents and finished_at is not null`),
  ],
)

/** What a job waits for (`--after`, `--after-any`): see the SQLite schema. */
export const jobDeps = pgTable(
  'job_deps',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    dependsOn: text('depends_on')
      .notNull()
      .references(() => jobs.id),
    anyEnd: boolean('any_end').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.dependsOn] }), index('job_deps_on').on(t.dependsOn)],
)

/** Every attempt of every job: where it ran, how and why it ended, and the worker's signed receipt. */
export const attempts = pgTable(
  'attempts',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id').notNull(),
    assignedAt: int8('assigned_at').notNull(),
    startedAt: int8('started_at'),
    endedAt: int8('ended_at'),
    outcome: text('outcome'),
    reason: text('reason'),
    receipt: text('receipt'),
    signature: text('signature'),
    outputsSha256: text('outputs_sha256'),
    outputsBytes: int8('outputs_bytes'),
    outputsFiles: int8('outputs_files'),
    outputsDataBytes: int8('outputs_data_bytes'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.attempt] })],
)

/** Archives a user uploaded (job inputs); a job may only name its owner's uploads. */
export const uploads = pgTable(
  'uploads',
  {
    sha256: text('sha256').notNull(),
    ownerId: text('owner_id')
      .notNull()
      .references(() => users.id),
    bytes: int8('bytes').notNull(),
    files: int8('files').notNull().default(0),
    createdAt: int8('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sha256, t.ownerId] }), index('uploads_owner').on(t.ownerId, t.createdAt)],
)

/** Output chunks of the current attempt of each job, in order. */
export const jobOutput = pgTable(
  'job_output',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    attempt: integer('attempt').notNull(),
    seq: integer('seq').notNull(),
    stream: text('stream', { enum: ['stdout', 'stderr'] }).notNull(),
    data: bytes('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.attempt, t.seq] })],
)

/** Ledger accounts: `user:<id>`, `escrow:<id>` and the single `mint`; only the mint may go negative. */
export const accounts = pgTable(
  'accounts',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['user', 'escrow', 'mint'] }).notNull(),
    userId: text('user_id').references(() => users.id),
    balance: int8('balance').notNull().default(0),
  },
  (t) => [check('balance_not_negative', sql`${t.kind} = 'mint' OR ${t.balance} >= 0`)],
)

/**
 * The user a transfer is filed under: the one whose account it debits, or for a grant the one it
 * credits; and the user a pay credits. SQLite's TRANSFER_PARTY and TRANSFER_PAYEE, in
 * PostgreSQL's words; queries spell them exactly so the planner uses the indexes on them.
 */
export const TRANSFER_PARTY =
  "(CASE WHEN from_account = 'mint' THEN substr(to_account, strpos(to_account, ':') + 1) ELSE substr(from_account, strpos(from_account, ':') + 1) END)"
/** The user a pay credits (indexed for pays only). */
export const TRANSFER_PAYEE = "substr(to_account, strpos(to_account, ':') + 1)"

/** Append-only double-entry transfers (a trigger refuses updates and deletes). */
export const transfers = pgTable(
  'transfers',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: text('id').notNull().unique(),
    kind: text('kind', { enum: ['grant', 'escrow', 'pay', 'refund'] }).notNull(),
    fromAccount: text('from_account')
      .notNull()
      .references(() => accounts.id),
    toAccount: text('to_account')
      .notNull()
      .references(() => accounts.id),
    amount: int8('amount').notNull(),
    jobId: text('job_id'),
    memo: text('memo'),
    createdAt: int8('created_at').notNull(),
  },
  (t) => [
    check('amount_positive', sql`${t.amount} > 0`),
    // A user's history is two ranges, as on SQLite (see its schema): what is filed under them and
    // what others paid them.
    index('transfers_party').on(sql.raw(TRANSFER_PARTY), t.seq),
    index('transfers_payee')
      .on(sql.raw(TRANSFER_PAYEE), t.seq)
      .where(sql`kind = 'pay'`),
  ],
)

/**
 * Stored archives (job inputs and /out files) when the grid keeps them in PostgreSQL: one row per
 * archive, written last, in the transaction that wrote its chunks, so no coordinator ever sees
 * a half-stored archive. PostgreSQL only: SQLite's coordinator keeps its archives on disk.
 */
export const blobs = pgTable('blobs', {
  sha256: text('sha256').primaryKey(),
  bytes: int8('bytes').notNull(),
  files: int8('files').notNull(),
  dataBytes: int8('data_bytes').notNull(),
  /** How many chunks hold it (all of `chunkBytes` but the last). */
  chunks: integer('chunks').notNull(),
  /** When it was last stored (ms, the storing coordinator's clock): the sweep's grace counts from it. */
  storedAt: int8('stored_at').notNull(),
})

/** The bytes of stored archives, in order, a few hundred KiB per row. */
export const blobChunks = pgTable(
  'blob_chunks',
  {
    sha256: text('sha256').notNull(),
    idx: integer('idx').notNull(),
    data: bytes('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sha256, t.idx] })],
)

/** The order accounts were made in (SQLite's rowid), what breaks ties of `createdAt`: the first account is the operator. */
export const usersMade = sql`"users"."seq"`

import { sql } from 'drizzle-orm'
import {
  type AnySQLiteColumn,
  blob,
  check,
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
} from 'drizzle-orm/sqlite-core'

/** Accounts. Passwords are argon2id hashes. */
export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  /** Operator: the first account, or one named by `gridx serve --admin`; set anew at every start. */
  isAdmin: integer('is_admin', { mode: 'boolean' }).notNull().default(false),
  createdAt: integer('created_at').notNull(),
  /** The invite the account signed up with (null: the first account, or open sign-up). */
  inviteId: text('invite_id').references((): AnySQLiteColumn => invites.id),
})

/**
 * Invites an operator made (`gridx invite`): the only way into a coordinator that admits by
 * invite, and the grant a newcomer starts with. Only the code's SHA-256 is stored.
 */
export const invites = sqliteTable(
  'invites',
  {
    id: text('id').primaryKey(),
    codeHash: text('code_hash').notNull().unique(),
    createdBy: text('created_by')
      .notNull()
      .references((): AnySQLiteColumn => users.id),
    /** Millicredits each account made with it starts with. */
    grantMc: integer('grant_mc').notNull(),
    /** Accounts it may make, and how many it has made. */
    uses: integer('uses').notNull(),
    used: integer('used').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    revokedAt: integer('revoked_at'),
  },
  (t) => [
    check('invite_uses', sql`${t.used} >= 0 AND ${t.used} <= ${t.uses}`),
    check('invite_grant', sql`${t.grantMc} >= 0`),
  ],
)

/** Login tokens, stored only as SHA-256 hashes. */
export const tokens = sqliteTable(
  'tokens',
  {
    hash: text('hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('tokens_user').on(t.userId)],
)

/** Every worker that ever connected, pinned to its owner. */
export const workers = sqliteTable('workers', {
  id: text('id').primaryKey(),
  ownerId: text('owner_id')
    .notNull()
    .references(() => users.id),
  name: text('name').notNull(),
  /** Ed25519 public key (base64), pinned at the worker's first connection. */
  publicKey: text('public_key'),
  firstSeenAt: integer('first_seen_at').notNull(),
  lastSeenAt: integer('last_seen_at').notNull(),
})

/** Jobs. The row is the truth: each transition is written here before it is acted on. */
export const jobs = sqliteTable(
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
    command: text('command', { mode: 'json' }).$type<string[]>().notNull(),
    scriptName: text('script_name'),
    script: blob('script', { mode: 'buffer' }),
    args: text('args', { mode: 'json' }).$type<string[]>().notNull(),
    timeoutMs: integer('timeout_ms').notNull(),
    cpus: real('cpus').notNull(),
    memoryBytes: integer('memory_bytes').notNull(),
    attempt: integer('attempt').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    /** Orders one user's own queued jobs: higher first. */
    priority: integer('priority').notNull().default(0),
    workerId: text('worker_id'),
    leaseExpiresAt: integer('lease_expires_at'),
    exitCode: integer('exit_code'),
    outcome: text('outcome'),
    error: text('error'),
    outputBytes: integer('output_bytes').notNull().default(0),
    /** The job's input files: a tar archive in the coordinator's blob store (see `uploads`). */
    inputsSha256: text('inputs_sha256'),
    inputsBytes: integer('inputs_bytes'),
    /**
     * The most room the job's files (script and inputs) take in its working directory, a tmpfs
     * that rounds every file up to a 4 KiB page: placement compares it with each worker's size.
     */
    filesBytes: integer('files_bytes'),
    /** Python packages its worker installs before it starts: checked, canonical PEP 508 lines. */
    requirements: text('requirements', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Its `requires-python` (PEP 723), checked by the worker against the image's Python. */
    requiresPython: text('requires_python'),
    /**
     * Workers on which its packages failed to install for a reason of theirs (their index, their
     * network): it is not offered to them again.
     */
    installFailedOn: text('install_failed_on', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Files the job left under /out, as a tar archive in the blob store. */
    outputsSha256: text('outputs_sha256'),
    outputsBytes: integer('outputs_bytes'),
    outputFiles: integer('output_files'),
    /** What the final attempt used, as its worker measured and signed it. */
    wallMs: integer('wall_ms'),
    /**
     * The time the job was billed for: the worker's signed time, but never more than the
     * coordinator saw pass from the attempt's start to its end, nor more than the timeout.
     */
    billedMs: integer('billed_ms'),
    /**
     * While assigned or running: when the coordinator ends the attempt itself if no result came
     * (start + timeout + a grace, or assignment + timeout + an allowance to start); null otherwise.
     */
    deadlineAt: integer('deadline_at'),
    cpuMs: integer('cpu_ms'),
    peakMemoryBytes: integer('peak_memory_bytes'),
    /** Millicredits escrowed at submission: requested CPUs x timeout x rate. */
    maxCost: integer('max_cost').notNull().default(0),
    /** Millicredits paid to the worker's owner when the job settled. */
    cost: integer('cost'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
    // --- job environment, name and labels (issue 17) ---
    /** Its name (`--name`): one line of visible text; null for none. */
    name: text('name'),
    /** Its labels (`--label key=value`), a JSON object of strings. */
    labels: text('labels', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
    /** Environment variables its worker sets in the container (checked names, no GRIDX_*). */
    env: text('env', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
    // --- end of job environment, name and labels ---
    // --- Arrays and dependencies (issue 17) ---
    /** The array it is a member of (`gridx submit --array`), and its index there; null for a lone job. */
    arrayId: text('array_id'),
    arrayIndex: integer('array_index'),
    /** How many of its array's members may run at once (`%N`); null for no cap. */
    arrayCap: integer('array_cap'),
    /** Queued but waiting for its dependencies (`--after`): the queue index holds it only once they allow. */
    held: integer('held', { mode: 'boolean' }).notNull().default(false),
    /** Set once a job waits for this one, so ending a job without dependents looks for none. */
    hasDependents: integer('has_dependents', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    index('jobs_owner').on(t.ownerId, t.createdAt),
    index('jobs_array')
      .on(t.arrayId, t.arrayIndex)
      .where(sql`array_id is not null`),
    // Held jobs by age, the id breaking ties (an array's members share a time): the sweep's full
    // pass over them goes in pages from one key to the next.
    index('jobs_held')
      .on(t.createdAt, t.id)
      .where(sql`held = 1`),
    // Live jobs (not ended: finished_at is set exactly when a job ends) by owner, then age: a
    // user's live jobs are a range of it (their storage quota, their listing by state), and all
    // live jobs are the whole index (finished_at first, null in every entry, lets SQLite search it
    // rather than scan the table). Neither key nor predicate changes while a job runs, so an entry
    // is written at submission and removed at the end, nothing in between: keyed by state, each
    // assignment and start moved it, and that was half of what SQLite wrote per job (the dispatch
    // bench's disk KB). The live jobs of one state are those, filtered by state.
    index('jobs_live')
      .on(t.finishedAt, t.ownerId, t.createdAt)
      .where(sql`finished_at is null`),
    // Holds only live attempts, so the sweep finds the overdue ones without reading every job.
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
    // Ended jobs that left /out files, by owner: what of theirs the storage quota still counts.
    // Jobs without outputs never enter it.
    index('jobs_outputs')
      .on(t.ownerId, t.finishedAt)
      .where(sql`outputs_sha256 is not null`),
    // Ended jobs that others wait for, by when they ended: the sweep of waiting jobs reads only
    // those that ended lately. Jobs nobody waits for never enter it.
    index('jobs_dependents_done')
      .on(t.finishedAt, t.id)
      .where(sql`has_dependents = 1 and finished_at is not null`),
  ],
)

/** What a job waits for (`--after`, `--after-any`): one row per dependency, found from either side. */
export const jobDeps = sqliteTable(
  'job_deps',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    dependsOn: text('depends_on')
      .notNull()
      .references(() => jobs.id),
    /** True for `--after-any`: any ending will do; false: it must succeed. */
    anyEnd: integer('any_end', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.dependsOn] }), index('job_deps_on').on(t.dependsOn)],
)

/** Every attempt of every job: where it ran, how and why it ended, and the worker's signed receipt. */
export const attempts = sqliteTable(
  'attempts',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id').notNull(),
    assignedAt: integer('assigned_at').notNull(),
    startedAt: integer('started_at'),
    endedAt: integer('ended_at'),
    /** exited, timeout, cancelled, error, output_limit, lost, released */
    outcome: text('outcome'),
    reason: text('reason'),
    /** The signed result (JSON of the receipt body) and its Ed25519 signature, base64. */
    receipt: text('receipt'),
    signature: text('signature'),
    /** The /out archive the worker uploaded for this attempt, before it reported the result. */
    outputsSha256: text('outputs_sha256'),
    /** Size of that archive (what it takes on disk, counted by the storage quota). */
    outputsBytes: integer('outputs_bytes'),
    /** Regular files in it and the bytes of their data, counted by the coordinator as it stored it. */
    outputsFiles: integer('outputs_files'),
    outputsDataBytes: integer('outputs_data_bytes'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.attempt] })],
)

/** Archives a user uploaded (job inputs); a job may only name its owner's uploads. */
export const uploads = sqliteTable(
  'uploads',
  {
    sha256: text('sha256').notNull(),
    ownerId: text('owner_id')
      .notNull()
      .references(() => users.id),
    bytes: integer('bytes').notNull(),
    /** Files (and directories) in the archive. */
    files: integer('files').notNull().default(0),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sha256, t.ownerId] }), index('uploads_owner').on(t.ownerId, t.createdAt)],
)

/** Output chunks of the current attempt of each job, in order. */
export const jobOutput = sqliteTable(
  'job_output',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id),
    attempt: integer('attempt').notNull(),
    seq: integer('seq').notNull(),
    stream: text('stream', { enum: ['stdout', 'stderr'] }).notNull(),
    data: blob('data', { mode: 'buffer' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.attempt, t.seq] })],
)

/**
 * Ledger accounts: one `user:<id>` (spendable) and one `escrow:<id>` per user, and the single
 * `mint` that grants come from. Only the mint may go negative; the database enforces it.
 */
export const accounts = sqliteTable(
  'accounts',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['user', 'escrow', 'mint'] }).notNull(),
    userId: text('user_id').references(() => users.id),
    balance: integer('balance').notNull().default(0),
  },
  (t) => [check('balance_not_negative', sql`${t.kind} = 'mint' OR ${t.balance} >= 0`)],
)

/**
 * The user a transfer is filed under: the one whose account (`user:<id>` or `escrow:<id>`) it
 * debits, or for a grant (from the mint) the one it credits. Only pays credit someone else
 * (TRANSFER_PAYEE). Queries must spell these exactly so SQLite uses the indexes on them.
 */
export const TRANSFER_PARTY =
  "(CASE WHEN from_account = 'mint' THEN substr(to_account, instr(to_account, ':') + 1) ELSE substr(from_account, instr(from_account, ':') + 1) END)"
/** The user a pay credits (indexed for pays only). */
export const TRANSFER_PAYEE = "substr(to_account, instr(to_account, ':') + 1)"

/** Append-only double-entry transfers (a trigger refuses updates and deletes). */
export const transfers = sqliteTable(
  'transfers',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    /** Unique per (kind, job, attempt), so the same movement can never be made twice. */
    id: text('id').notNull().unique(),
    kind: text('kind', { enum: ['grant', 'escrow', 'pay', 'refund'] }).notNull(),
    fromAccount: text('from_account')
      .notNull()
      .references(() => accounts.id),
    toAccount: text('to_account')
      .notNull()
      .references(() => accounts.id),
    amount: integer('amount').notNull(),
    jobId: text('job_id'),
    memo: text('memo'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    check('amount_positive', sql`${t.amount} > 0`),
    // A user's history is two ranges: what is filed under them (transfers_party) and what others
    // paid them (transfers_payee). One entry per transfer (two for a pay to someone else), in one
    // range per user: an index per account side took four ranges a user, and their pages are
    // most of what a job's settlement writes.
    index('transfers_party').on(sql.raw(TRANSFER_PARTY), t.seq),
    index('transfers_payee')
      .on(sql.raw(TRANSFER_PAYEE), t.seq)
      .where(sql`kind = 'pay'`),
  ],
)

/** Row types. */
export type UserRow = typeof users.$inferSelect
/** An invite as stored. */
export type InviteRow = typeof invites.$inferSelect
/** A job as stored. */
export type JobRow = typeof jobs.$inferSelect
/** A ledger transfer as stored. */
export type TransferRow = typeof transfers.$inferSelect
/** One attempt of a job as stored. */
export type AttemptRow = typeof attempts.$inferSelect
/** A worker as stored. */
export type WorkerRow = typeof workers.$inferSelect

import type { AttemptRow, JobRow, UserRow, WorkerRow } from '../../db/sqlite/schema'
import type { InviteView, NewInvite, SignupMode } from '../../protocol/api'
import type { LeaseRef } from '../../protocol/worker'

/**
 * The coordinator's persistence: one async interface, a set of small repositories, that every
 * engine (SQLite in `sqlite/`, PostgreSQL in `postgres/`) implements with its own SQL and that
 * one conformance suite checks (`test/store/`). Every method is one atomic step: it commits
 * whole or changes nothing, whatever other coordinator shares the database.
 */
export interface Store {
  /** Which engine this is, for the few places (and tests) where the engines differ. */
  readonly engine: 'sqlite' | 'postgres'
  readonly accounts: AccountsRepo
  readonly invites: InvitesRepo
  readonly workers: WorkersRepo
  readonly files: FilesRepo
  readonly credits: CreditsRepo
  readonly queue: QueueRepo
  readonly leases: LeasesRepo
  readonly deadlines: DeadlinesRepo
  /** Arrays of jobs and jobs that wait for others (issue 17). */
  readonly workflows: WorkflowsRepo
  /** The grid's figures the dashboard shows (read only, from indexes). */
  readonly stats: StatsRepo
  /** Messages between the coordinators sharing this database (none on SQLite: there is one). */
  readonly bus: Bus
  /** Which coordinator runs the sweeps (always this one on SQLite). */
  readonly leadership: Leadership
  /**
   * Keeps the planner's statistics up with tables that change fast; the leader calls it each
   * sweep and it returns the tables it analysed (PostgreSQL only: SQLite's plans need none).
   */
  readonly plannerStats?: { freshen(): Promise<string[]> } | undefined
  /** Whether the database answers now, and what is wrong while it does not (see `/health`). */
  readonly health: DatabaseHealth
  /** Stored archives in chunks, so every coordinator reads the same ones: PostgreSQL only (SQLite's are on disk). */
  readonly blobChunks?: BlobChunksRepo | undefined
  /** Closes the database (connections, files); the store is unusable afterwards. */
  close(): Promise<void>
}

/**
 * The channel between the coordinators of one grid, through their database (LISTEN/NOTIFY on
 * PostgreSQL). Delivery is at most once: a receiver that was cut off is told to `resync` from
 * the rows, which stay the truth.
 */
export interface Bus {
  /** False when no other coordinator can share the database (SQLite): nothing need be told. */
  readonly shared: boolean
  /** Sends a message (under 7,500 bytes) to every coordinator of the grid, this one included. */
  publish(message: string): Promise<void>
  /**
   * Receives every message; `resync` runs whenever the channel came back after being down (and
   * messages may have been missed). Resolves once listening.
   */
  subscribe(receive: (message: string) => void, resync: () => void): Promise<void>
}

/** An election among the coordinators of a grid: one at a time holds it, and it passes on when its holder dies. */
export interface Leadership {
  /** Tries to hold it (or checks it is still held); true while this coordinator does. */
  hold(): Promise<boolean>
  /** Gives it up (at shutdown), so another takes over at once. */
  release(): Promise<void>
}

/** The database's reachability, as the last queries found it. */
export interface DatabaseHealth {
  /** Why the database does not answer now (host, port, error), or undefined while it does. */
  problem(): string | undefined
}

export type { AttemptRow, InviteRow, JobRow, TransferRow, UserRow, WorkerRow } from '../../db/sqlite/schema'

/** A pending invite announced before its maker exists: `gridx serve`'s join token, before the first account. */
export interface PendingInvite {
  code: string
  grantMc: number
  uses: number
  expiresAt: number
}

/** How a new account is admitted: the coordinator's sign-up mode and grant, and the invite given. */
export interface Admission {
  signup: SignupMode
  /** Millicredits for an account admitted without an invite (the first, or by open sign-up). */
  grant: number
  /** SHA-256 of the invite code given, if any; its grant replaces `grant`. */
  inviteHash?: string | undefined
  /** The invite of `gridx serve`'s join token when no account existed: the first account makes it. */
  firstInvite?: PendingInvite | undefined
}

/** Accounts, operators and login tokens. */
export interface AccountsRepo {
  /**
   * Creates an account with its ledger accounts and starting grant, if the sign-up mode admits it:
   * the first account always (it is the operator); later ones by the mode, and with an invite
   * that one use of is taken, and whose grant they get, in this same transaction.
   */
  create(row: Omit<UserRow, 'isAdmin' | 'inviteId'>, admission: Admission): Promise<UserRow>
  /** True once any account exists (the first one is the operator and registers freely). */
  exist(): Promise<boolean>
  /**
   * Makes the operators exactly the first account plus the named accounts that exist now; writes
   * only rows whose right changes. Returns the operators and the names with no account.
   */
  setOperators(admins: readonly string[]): Promise<{ operators: string[]; missing: string[] }>
  /** The names of the operators, oldest account first. */
  operators(): Promise<string[]>
  /** The account with this name, if any. */
  byName(name: string): Promise<UserRow | undefined>
  /** The account with this id, if any (the log names a job's owner by it). */
  byId(id: string): Promise<UserRow | undefined>
  /** Stores a token hash for a user. */
  addToken(hash: string, userId: string, now: number, expiresAt: number): Promise<void>
  /** The user a live token belongs to. */
  byToken(hash: string, now: number): Promise<UserRow | undefined>
  /** Revokes a token. */
  deleteToken(hash: string): Promise<void>
}

/** What a new invite is: its grant, how many accounts it may make, until when (and, at start, its code). */
export interface InviteOptions {
  grantMc: number
  uses: number
  expiresAt: number
  now: number
  code?: string
  used?: number
}

/** Invites operators make: the way into a coordinator that admits by invite. */
export interface InvitesRepo {
  /** Stores a new invite made by an operator; the code is returned once and only its hash kept. */
  create(byUserId: string, opts: InviteOptions): Promise<NewInvite>
  /** Throws the 403 that says why an invite code (by hash) cannot admit anyone now, if it cannot. */
  check(hash: string, now: number): Promise<void>
  /** Invites, newest first, with who made and who used each. */
  list(now: number): Promise<InviteView[]>
  /** Revokes an invite (404 when there is none with this id). */
  revoke(id: string, now: number): Promise<InviteView>
}

/** Workers that ever connected, pinned to their owner and signing key. */
export interface WorkersRepo {
  /** Records a worker connection; a worker id belongs to the account that first used it (403 otherwise). */
  upsert(
    id: string,
    ownerId: string,
    name: string,
    now: number,
    publicKey?: string | null,
  ): Promise<WorkerRow>
  /** A worker as stored (its owner and pinned key). */
  get(id: string): Promise<WorkerRow | undefined>
}

/** Which stored archives are whose, and which must be kept. */
export interface FilesRepo {
  /** Records that a user uploaded an archive (uploading the same one again renews it). */
  recordUpload(sha256: string, ownerId: string, bytes: number, files: number, at: number): Promise<void>
  /**
   * Forgets uploads made before `cutoff`, and returns the digests of every archive still needed:
   * recent uploads, the inputs and staged outputs of jobs not yet ended, and the outputs of jobs
   * that ended at or after `cutoff`. One transaction, so a job submitted meanwhile is counted.
   */
  toKeep(cutoff: number): Promise<Set<string>>
  /** The archives kept on a user's behalf, by digest with their size (what their storage quota counts). */
  keptArchives(ownerId: string, cutoff: number): Promise<Map<string, number>>
  /** A user's upload by digest: jobs may only name archives their owner uploaded. */
  uploadOf(sha256: string, ownerId: string): Promise<{ bytes: number; files: number } | undefined>
}

/** An archive kept in the database: its measures, how many chunks hold it, when it was last stored (ms). */
export interface ChunkedBlob {
  sha256: string
  bytes: number
  files: number
  dataBytes: number
  chunks: number
  storedAt: number
}

/**
 * Archives kept in the database as ordered chunks (PostgreSQL's blob store). Writes are one
 * transaction each, serialised per digest across coordinators, with the archive's row last.
 */
export interface BlobChunksRepo {
  /**
   * Stores an archive: its chunks (pulled one by one, never all held) then its row, in one
   * transaction. An archive already stored is not written again: its time is renewed and the
   * chunks are not read. Returns whether it was written.
   */
  write(blob: ChunkedBlob, chunks: AsyncIterable<Uint8Array>): Promise<'written' | 'existed'>
  /** An archive's row, if it is stored. */
  get(sha256: string): Promise<ChunkedBlob | undefined>
  /** Chunks `from` to `from + count - 1` of an archive, in order (fewer when it was removed meanwhile). */
  read(sha256: string, from: number, count: number): Promise<Uint8Array[]>
  /** Every stored archive: digest, size and when it was last stored. */
  list(): Promise<{ sha256: string; bytes: number; storedAt: number }[]>
  /** Removes an archive last stored before `before`, row and chunks together; its size, or undefined. */
  remove(sha256: string, before: number): Promise<number | undefined>
}

/** One line of a user's credit history, seen from their side. */
export interface HistoryLine {
  seq: number
  at: number
  kind: 'grant' | 'escrow' | 'pay' | 'refund'
  jobId: string | null
  counterparty: string
  /**
   * Signed millicredits: how the line changed what this user has (balance and escrow together),
   * positive when credits came to them, negative when they left, 0 between their own accounts.
   */
  amount: number
  /** Which of the user's accounts moved: spendable balance or escrow (between their own: the one credited). */
  account: 'balance' | 'escrow'
  memo: string | null
}

/** The ledger's invariant, checkable at any time. */
export interface Audit {
  minted: number
  balances: number
  escrow: number
  /** The maximum cost of every job not yet ended: what escrow must hold. */
  escrowDue: number
  mintBalance: number
  negativeAccounts: number
  transfers: number
  ok: boolean
}

/** A user's balances and newest history. */
export interface Credits {
  balance: number
  escrow: number
  history: HistoryLine[]
}

/** The credit ledger as users and operators see it (escrow and settlement happen with the jobs). */
export interface CreditsRepo {
  /** Mints credits to a user (an operator's grant); 404 when there is no such user. */
  grant(userName: string, amount: number, memo: string, at: number): Promise<void>
  /** A user's balance, escrow and newest history before `beforeSeq`. */
  of(userId: string, limit: number, beforeSeq?: number): Promise<Credits>
  /** The ledger invariant, computed in one consistent read. */
  audit(): Promise<Audit>
  /** Millicredits in escrow over all users: one sum over the accounts, not the ledger (for /metrics). */
  escrowTotal(): Promise<number>
}

/** A new job as the API hands it to the store. */
export type NewJob = Omit<
  JobRow,
  | 'state'
  | 'attempt'
  | 'workerId'
  | 'leaseExpiresAt'
  | 'exitCode'
  | 'outcome'
  | 'error'
  | 'outputBytes'
  | 'startedAt'
  | 'finishedAt'
  | 'cost'
  | 'priority'
  | 'outputsSha256'
  | 'outputsBytes'
  | 'outputFiles'
  | 'wallMs'
  | 'billedMs'
  | 'deadlineAt'
  | 'cpuMs'
  | 'peakMemoryBytes'
  | 'inputsSha256'
  | 'inputsBytes'
  | 'filesBytes'
  | 'requirements'
  | 'requiresPython'
  | 'installFailedOn'
  | 'name'
  | 'labels'
  | 'env'
  | 'arrayId'
  | 'arrayIndex'
  | 'arrayCap'
  | 'held'
  | 'hasDependents'
> & {
  priority?: number
  requirements?: string[]
  requiresPython?: string | null
  inputsSha256?: string | null
  inputsBytes?: number | null
  filesBytes?: number | null
  // Job environment, name and labels (issue 17).
  name?: string | null
  labels?: Record<string, string>
  env?: Record<string, string>
  // Arrays and dependencies (issue 17): set by `WorkflowsRepo.create`, never by `QueueRepo.create`.
  arrayId?: string | null
  arrayIndex?: number | null
  arrayCap?: number | null
}

/** A queued job without its script (which can be megabytes), as fair share reads it. */
export type QueuedJob = Omit<JobRow, 'script'>

/**
 * A job's current attempt, who holds it and what it is billed by: what a result is checked and
 * settled against, read once per result (the whole row adds its script and some JSON to decode).
 */
export type JobLease = Pick<
  JobRow,
  'id' | 'ownerId' | 'state' | 'attempt' | 'workerId' | 'startedAt' | 'cpus' | 'timeoutMs' | 'hasDependents'
>

/** Which jobs a listing shows (the dashboard's jobs page): all filters are optional and combine. */
export interface JobListing {
  /** Only this user's jobs; undefined for everyone's (operators). */
  ownerId?: string | undefined
  /** Only jobs in this state. */
  state?: JobRow['state'] | undefined
  /** Jobs whose id starts with it, or whose script name or name contains it (case-insensitive, literal). */
  search?: string | undefined
  // --- names, labels and id prefixes (issue 17) ---
  /** Only jobs in one of these states (with `state`, both must hold). */
  states?: readonly JobRow['state'][] | undefined
  /** Only jobs whose name matches this glob (`*` any run, `?` one character; case-insensitive). */
  name?: string | undefined
  /** Only jobs that carry every one of these labels with these values. */
  labels?: Readonly<Record<string, string>> | undefined
  /** Only jobs whose id starts with this (literal, case-sensitive: ids are lower-case). */
  idPrefix?: string | undefined
  // --- end of names, labels and id prefixes ---
  /** Only jobs older than this one (newest first): the cursor of the next page. */
  before?: { createdAt: number; id: string } | undefined
  limit: number
}

/** A job as a listing shows it: no script, and its owner's name. */
export type ListedJob = QueuedJob & { ownerName: string }

/** Jobs entering and waiting in the queue: submission with escrow, listings, fair-share views. */
export interface QueueRepo {
  /** Queues a new job and escrows its maximum cost, atomically; 402 when the owner cannot afford it. */
  create(job: NewJob): Promise<JobRow>
  /** One job by id. */
  job(id: string): Promise<JobRow | undefined>
  /** What a worker's result for a job is checked and settled against, without the job's script and specs. */
  jobLease(id: string): Promise<JobLease | undefined>
  /** The newest jobs of one user. */
  jobsOf(ownerId: string, limit: number): Promise<JobRow[]>
  /** A page of jobs without their scripts, with their owners' names, newest first (created, then id). */
  list(listing: JobListing): Promise<ListedJob[]>
  /**
   * Queued jobs without their scripts, in fair-share order (owner, then priority highest first,
   * then age, then id; owners and ids compared byte-wise): every one, or those of `ids` still
   * queued. What an in-memory queue index loads at start and when another coordinator announces jobs.
   */
  queued(ids?: readonly string[]): Promise<QueuedJob[]>
  /** Every job assigned or running now, with its owner (and its array, for the array's cap). */
  active(): Promise<{ id: string; ownerId: string; arrayId: string | null }[]>
  /** Where a queued job stands: its owner's queued jobs ahead of it, and all queued jobs. */
  position(job: QueuedJob): Promise<{ aheadOfMine: number; queued: number }>
  /** Job counts by live state (queued, assigned, running), for `/health`. */
  counts(): Promise<Record<string, number>>
}

/** How a job attempt ended, as written to its row. */
export interface Ending {
  state: 'succeeded' | 'failed' | 'cancelled'
  exitCode: number | null
  outcome: string
  error: string | null
  at: number
  /** Millicredits owed to the worker's owner for compute used (0 when the platform failed). */
  cost: number
  /** The time `cost` pays for (see `billedMs` in pricing.ts); 0 when nothing is billed. */
  billedMs: number
  /** The worker's signed receipt of the result, kept with the attempt. */
  receipt?: { body: string; signature: string } | undefined
  /** What the attempt used, as its worker measured it. */
  usage?: { wallMs: number; cpuMs: number | null; peakMemoryBytes: number | null } | undefined
  /** The attempt's /out archive (already uploaded and staged with the attempt). */
  outputs?: { sha256: string; bytes: number; files: number } | undefined
}

/** One stored chunk of a job's output. */
export interface OutputChunk {
  seq: number
  stream: 'stdout' | 'stderr'
  data: Buffer
}

/** How an attempt given back to the queue ended, and what it means for the next. */
export interface Requeue {
  /** The attempt's outcome: lost, released, error, install_failed. */
  outcome: string
  /** False when it does not count against the job's attempts (a draining worker's release). */
  consumesAttempt: boolean
  receipt?: Ending['receipt']
  /** The job's outcome if this was its last attempt (default `lost`). */
  finalOutcome?: string
  /** The job's error if this was its last attempt (default the reason of this one). */
  finalError?: (attempts: number) => string
  /** Never offer the job to this worker again (its packages failed to install there). */
  avoidWorker?: boolean
}

/** An attempt's staged /out archive, as the coordinator measured it. */
export interface StagedOutputs {
  sha256: string
  bytes: number
  /** Null for archives staged before the coordinator measured them. */
  files: number | null
  dataBytes: number | null
}

/** Answer of `stageOutputs`. */
export type StageResult = { result: 'staged' } | { result: 'not_held' } | { result: 'other'; sha256: string }

/** Timings the lease store needs from the coordinator's settings. */
export interface LeaseTimings {
  deadlineGraceMs: number
  startAllowanceMs: number
}

/**
 * Jobs under lease: assignment, start, output, the end of an attempt and its settlement,
 * cancellation, expiry and requeue. Every transition is compare-and-set on (job, attempt,
 * worker, state), so stale or repeated reports change nothing, from whichever coordinator.
 */
export interface LeasesRepo {
  /**
   * Hands a queued job to a worker under a new attempt, due to start within its timeout plus
   * `startAllowanceMs`; undefined when it is no longer queued (another dispatch took it).
   */
  assign(
    jobId: string,
    workerId: string,
    leaseExpiresAt: number,
    now?: number,
    startAllowanceMs?: number,
  ): Promise<JobRow | undefined>
  /**
   * `assign` for many jobs at once (one transaction where the engine can): the rows of those
   * still queued, by job id; the others were taken meanwhile.
   */
  assignMany(
    picks: readonly { jobId: string; workerId: string; leaseExpiresAt: number }[],
    now: number,
    startAllowanceMs?: number,
  ): Promise<Map<string, JobRow>>
  /**
   * Marks the current attempt as running on its worker from `startedAt` (what billing counts
   * from), due to end within its timeout plus `graceMs` of `now`.
   */
  markRunning(
    lease: LeaseRef,
    workerId: string,
    now: number,
    graceMs?: number,
    startedAt?: number,
  ): Promise<boolean>
  /** Every attempt of a job, oldest first. */
  attemptsOf(jobId: string): Promise<AttemptRow[]>
  /** The signed receipt an ended attempt was settled with, if it ended with one. */
  recordedReceipt(lease: LeaseRef): Promise<{ body: string; signature: string } | undefined>
  /**
   * Records the /out archive a worker uploaded for an attempt it holds, before it reports the
   * result. An attempt stages once: the same archive again is `staged`, a different one is
   * `other` (with the one kept), and `not_held` records nothing.
   */
  stageOutputs(
    lease: LeaseRef,
    workerId: string,
    outputs: { sha256: string; bytes: number; files: number; dataBytes: number },
  ): Promise<StageResult>
  /** The /out archive staged for an attempt, if any. */
  stagedOutputs(lease: LeaseRef): Promise<StagedOutputs | undefined>
  /** Extends the leases a worker still holds, in one statement; returns those it extended (the others are not its). */
  renew(workerId: string, leases: LeaseRef[], expiresAt: number): Promise<LeaseRef[]>
  /** Appends output under a live lease; nothing is written unless `ok`. */
  appendOutput(
    lease: LeaseRef,
    workerId: string,
    chunk: OutputChunk,
    capBytes: number,
  ): Promise<'ok' | 'duplicate' | 'stale' | 'capped'>
  /** Output of a job's attempt after a sequence number, in order. */
  output(jobId: string, attempt: number, afterSeq: number): Promise<OutputChunk[]>
  /** Ends the attempt a worker holds and settles its credits in the same transaction; false when stale or already ended. */
  finish(lease: LeaseRef, workerId: string, end: Ending): Promise<boolean>
  /**
   * Cancels a job that has not ended and settles it: compute already used is paid (`bill` says
   * how much time and what it costs, from when the coordinator saw the attempt begin, read in the
   * same transaction), a job that never ran costs nothing. Returns the row as it
   * was, or undefined if it had already ended.
   */
  cancel(
    jobId: string,
    now: number,
    bill: (job: JobRow, since: number | undefined) => { cost: number; billedMs: number },
  ): Promise<JobRow | undefined>
  /**
   * After a coordinator restart, gives every live lease (and deadline) until `until`: the time
   * the coordinator was down must not count against workers still running their jobs.
   */
  extendLeases(until: number, now?: number, timings?: LeaseTimings): Promise<number>
  /** Jobs whose lease ran out before `now`. */
  expired(now: number): Promise<JobRow[]>
  /** Puts an attempt back in the queue, or fails the job once it has used all its attempts. */
  requeue(
    lease: LeaseRef,
    reason: string,
    now: number,
    workerId?: string,
    how?: Requeue,
  ): Promise<'queued' | 'failed' | 'stale'>
  /** Live leases a worker holds, per the database. */
  leasesOf(workerId: string): Promise<LeaseRef[]>
}

/** What the deadline sweep needs of an overdue attempt. */
export type Overdue = Pick<JobRow, 'id' | 'attempt' | 'state' | 'workerId' | 'cpus' | 'timeoutMs'>

/**
 * The times the coordinator itself saw: when each attempt began, and by when it must end. A
 * live attempt's deadline is set when it is assigned and again when it starts; an ended one has none.
 */
export interface DeadlinesRepo {
  /** When the coordinator saw an attempt begin: its `job.started`, or its assignment when none came. */
  since(lease: LeaseRef): Promise<number | undefined>
  /** Moves a live attempt's deadline to `until` when that is later; false when not `workerId`'s live one. */
  extend(lease: LeaseRef, workerId: string, until: number): Promise<boolean>
  /** Up to `limit` live attempts past their deadline at `now`, the most overdue first. */
  overdue(now: number, limit?: number): Promise<Overdue[]>
}

/** Jobs that ended in one time bucket with one final state. */
export interface FinishedBucket {
  /** Start of the bucket (ms, a multiple of the bucket's length). */
  at: number
  state: 'succeeded' | 'failed' | 'cancelled'
  n: number
}

/** What the jobs that ended on one worker add up to. */
export interface WorkerTotals {
  /** Jobs whose final attempt ran on it. */
  jobs: number
  /** Millicredits those jobs paid its owner. */
  earnedMc: number
}

/** A worker as stored, with its owner's name. */
export type SeenWorker = WorkerRow & { owner: string }

/** An account as the operator's page lists it. */
export interface UserSummary {
  id: string
  name: string
  isAdmin: boolean
  createdAt: number
  balance: number
  escrow: number
  /** Jobs it ever submitted. */
  jobs: number
}

/**
 * The grid's figures for the dashboard, each one query read from an index (a table of 100,000
 * jobs does not slow the overview): what ended lately, escrow, workers' totals, accounts.
 */
export interface StatsRepo {
  /** Jobs that ended at or after `since`, counted per `bucketMs` and final state, oldest bucket first. */
  finishedSince(since: number, bucketMs: number): Promise<FinishedBucket[]>
  /** Millicredits held in escrow, over every account. */
  escrowTotal(): Promise<number>
  /** Per worker id, what the jobs that ended on it add up to (workers with none are absent). */
  workerTotals(): Promise<Map<string, WorkerTotals>>
  /** Workers last seen at or after `since`, most recently seen first. */
  workersSeen(since: number): Promise<SeenWorker[]>
  /** The newest `limit` accounts with their balances and job counts, newest first, and how many accounts there are. */
  users(limit: number): Promise<{ users: UserSummary[]; total: number }>
}

/** A job's dependency as `gridx status` shows it: its id, its state now, and whether any ending will do. */
export interface Dependency {
  id: string
  state: JobRow['state']
  anyEnd: boolean
}

/** Where a sweep's pages are: a job's time (created or ended, as the listing says) and its id. */
export interface SweepKey {
  at: number
  id: string
}

/** What ending jobs did to the jobs that waited for them. */
export interface DependentsSettled {
  /** Held jobs whose dependencies now allow them: queued for real (announce them like new ones). */
  released: QueuedJob[]
  /** Jobs cancelled because an `--after` dependency failed or was cancelled (their escrow refunded), cascading. */
  cancelled: { id: string; ownerId: string; reason: string }[]
}

/**
 * Arrays of jobs (`--array`) and jobs that wait for others (`--after`): creating many jobs in one
 * transaction with their escrow, and deciding what a job's ending means for the jobs held for it.
 */
export interface WorkflowsRepo {
  /**
   * Queues `jobs` in one transaction, escrowing every one (402 naming their total when the owner
   * cannot afford all). With `after` (ids of the owner's jobs, checked by the caller), each waits
   * for those: held while any has not ended; refused (409) when one already failed and any
   * ending will not do.
   */
  create(jobs: NewJob[], after?: { ids: readonly string[]; anyEnd: boolean }): Promise<JobRow[]>
  /** An array's members without their scripts, by index (empty when there is no such array). */
  members(arrayId: string): Promise<QueuedJob[]>
  /** What a job waits for, in the order given. */
  dependencies(jobId: string): Promise<Dependency[]>
  /**
   * Decides the held jobs waiting for `ended` (jobs that just ended): releases those whose
   * dependencies allow, cancels (refunded, cost 0) those an `--after` dependency failed, and so on
   * down the chain, in one transaction. A held job that still waits for others costs a look for
   * one of them, not a read of all (a job after a 10,000-member array is decided at each member's
   * end).
   */
  settleDependents(ended: readonly string[], now: number): Promise<DependentsSettled>
  /** Decides `held` (held jobs, as `heldPage` gives them) from all their dependencies, as `settleDependents` does. */
  settleHeld(held: readonly string[], now: number): Promise<DependentsSettled>
  /** Held jobs after `after` by (created, id), at most `limit`: the sweep's pass over every waiting job. */
  heldPage(after: SweepKey | undefined, limit: number): Promise<SweepKey[]>
  /**
   * Jobs that others waited for and that ended after `after` by (ended, id) and at `until` or
   * before, at most `limit`: the sweep's look at what ended lately (jobs without dependents are
   * not in its index).
   */
  endedWithDependents(after: SweepKey | undefined, until: number, limit: number): Promise<SweepKey[]>
}

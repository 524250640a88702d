import { Database } from 'bun:sqlite'
import { and, asc, desc, eq, getTableColumns, gt, inArray, lt, lte, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { migrate } from '../db/migrate'
import * as schema from '../db/schema'
import type { AttemptRow, JobRow, UserRow, WorkerRow } from '../db/schema'
import { GridError } from '../errors'
import * as ledger from './ledger'
import type { LeaseRef } from '../protocol/worker'

const { users, tokens, workers, jobs, jobOutput, attempts } = schema
const ACTIVE = ['assigned', 'running'] as const

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
> & { priority?: number }

/** How a job attempt ended, as written to its row. */
export interface Ending {
  state: 'succeeded' | 'failed' | 'cancelled'
  exitCode: number | null
  outcome: string
  error: string | null
  at: number
  /** Millicredits owed to the worker's owner for compute used (0 when the platform failed). */
  cost: number
  /** The worker's signed receipt of the result, kept with the attempt. */
  receipt?: { body: string; signature: string } | undefined
}

/** One stored chunk of a job's output. */
export interface OutputChunk {
  seq: number
  stream: 'stdout' | 'stderr'
  data: Buffer
}

/**
 * The coordinator's persistence. Every method is one atomic step; transitions are
 * compare-and-set on (job, attempt, state) so stale or repeated reports change nothing.
 */
export class Store {
  private readonly sqlite: Database
  private readonly db

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.sqlite = new Database(path, { create: true, strict: true })
    this.sqlite.run('PRAGMA journal_mode = WAL')
    this.sqlite.run('PRAGMA synchronous = NORMAL')
    this.sqlite.run('PRAGMA foreign_keys = ON')
    this.sqlite.run('PRAGMA busy_timeout = 5000')
    migrate(this.sqlite)
    this.db = drizzle(this.sqlite, { schema })
  }

  /** Closes the database file. */
  close(): void {
    this.sqlite.close()
  }

  /** Creates an account with its ledger accounts and starting grant; the first user is the admin. */
  createUser(row: Omit<UserRow, 'isAdmin'>, opts: { grant: number; admins?: readonly string[] }): UserRow {
    return this.db.transaction((tx) => {
      const taken = tx.select({ id: users.id }).from(users).where(eq(users.name, row.name)).get()
      if (taken) {
        throw new GridError('user_exists', `user '${row.name}' already exists: log in instead`, {
          status: 409,
        })
      }
      const first = !tx.select({ id: users.id }).from(users).limit(1).get()
      const user = { ...row, isAdmin: first || (opts.admins ?? []).includes(row.name) }
      tx.insert(users).values(user).run()
      ledger.openAccounts(tx, user.id)
      ledger.transfer(tx, {
        id: `grant:${user.id}:signup`,
        kind: 'grant',
        from: ledger.MINT,
        to: ledger.userAccount(user.id),
        amount: opts.grant,
        jobId: null,
        memo: 'welcome grant',
        at: row.createdAt,
      })
      return user
    })
  }

  /** Mints credits to a user (an operator's grant). */
  grant(userName: string, amount: number, memo: string, at: number): void {
    this.db.transaction((tx) => {
      const user = tx.select().from(users).where(eq(users.name, userName)).get()
      if (!user) throw new GridError('user_not_found', `no user '${userName}'`, { status: 404 })
      ledger.transfer(tx, {
        id: `grant:${user.id}:${crypto.randomUUID()}`,
        kind: 'grant',
        from: ledger.MINT,
        to: ledger.userAccount(user.id),
        amount,
        jobId: null,
        memo,
        at,
      })
    })
  }

  /** A user's balance, escrow and newest history. */
  credits(userId: string, limit: number, beforeSeq?: number) {
    return this.db.transaction((tx) => ({
      ...ledger.balances(tx, userId),
      history: ledger.history(tx, userId, limit, beforeSeq),
    }))
  }

  /** The ledger invariant, computed in one consistent read. */
  audit(): ledger.Audit {
    return this.db.transaction((tx) => ledger.audit(tx))
  }

  /** The account with this name, if any. */
  userByName(name: string): UserRow | undefined {
    return this.db.select().from(users).where(eq(users.name, name)).get()
  }

  /** Stores a token hash for a user. */
  addToken(hash: string, userId: string, now: number, expiresAt: number): void {
    this.db.insert(tokens).values({ hash, userId, createdAt: now, expiresAt }).run()
  }

  /** The user a live token belongs to. */
  userByToken(hash: string, now: number): UserRow | undefined {
    const row = this.db
      .select({ user: users })
      .from(tokens)
      .innerJoin(users, eq(tokens.userId, users.id))
      .where(and(eq(tokens.hash, hash), gt(tokens.expiresAt, now)))
      .get()
    return row?.user
  }

  /** Revokes a token. */
  deleteToken(hash: string): void {
    this.db.delete(tokens).where(eq(tokens.hash, hash)).run()
  }

  /** Records a worker connection; a worker id belongs to the account that first used it. */
  upsertWorker(
    id: string,
    ownerId: string,
    name: string,
    now: number,
    publicKey: string | null = null,
  ): WorkerRow {
    const existing = this.db.select().from(workers).where(eq(workers.id, id)).get()
    if (existing && existing.ownerId !== ownerId) {
      throw new GridError('worker_owned', `worker id ${id} belongs to another account`, { status: 403 })
    }
    if (existing?.publicKey && publicKey !== existing.publicKey) {
      throw new GridError(
        'worker_key_mismatch',
        `worker ${id} connected with a different signing key than the one pinned at its first connection: if its $GRIDX_HOME was reset, start it under a new --name`,
        { status: 403 },
      )
    }
    if (existing) {
      const key = existing.publicKey ?? publicKey
      this.db.update(workers).set({ name, lastSeenAt: now, publicKey: key }).where(eq(workers.id, id)).run()
      return { ...existing, name, lastSeenAt: now, publicKey: key }
    }
    const row = { id, ownerId, name, publicKey, firstSeenAt: now, lastSeenAt: now }
    this.db.insert(workers).values(row).run()
    return row
  }

  /** Queues a new job and escrows its maximum cost, atomically; 402 when the owner cannot afford it. */
  createJob(job: NewJob): JobRow {
    return this.db.transaction((tx) => {
      const row = tx
        .insert(jobs)
        .values({ ...job, state: 'queued' })
        .returning()
        .get()
      ledger.escrow(tx, row, job.createdAt)
      return row
    })
  }

  /** One job by id. */
  job(id: string): JobRow | undefined {
    return this.db.select().from(jobs).where(eq(jobs.id, id)).get()
  }

  /** The newest jobs of one user. */
  jobsOf(ownerId: string, limit: number): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(eq(jobs.ownerId, ownerId))
      .orderBy(desc(jobs.createdAt), desc(jobs.id))
      .limit(limit)
      .all()
  }

  /**
   * For fair share: the first `perOwner` queued jobs of every user with queued jobs, each
   * user's in their own order (priority, then age), without script bodies.
   */
  queuedByOwner(perOwner: number): Map<string, Omit<JobRow, 'script'>[]> {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
    const { script, ...cols } = getTableColumns(jobs)
    const ranked = this.db
      .select({
        id: jobs.id,
        rank: sql<number>`row_number() over (partition by ${jobs.ownerId} order by ${jobs.priority} desc, ${jobs.createdAt}, ${jobs.id})`.as(
          'rank',
        ),
      })
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
      .as('ranked')
    const rows = this.db
      .select(cols)
      .from(jobs)
      .innerJoin(ranked, eq(jobs.id, ranked.id))
      .where(lte(ranked.rank, perOwner))
      .orderBy(asc(jobs.ownerId), asc(ranked.rank))
      .all()
    const byOwner = new Map<string, Omit<JobRow, 'script'>[]>()
    for (const r of rows) {
      const list = byOwner.get(r.ownerId) ?? []
      list.push(r)
      byOwner.set(r.ownerId, list)
    }
    return byOwner
  }

  /** How many jobs each user has assigned or running now. */
  activeByOwner(): Map<string, number> {
    const rows = this.db
      .select({ ownerId: jobs.ownerId, n: sql<number>`count(*)` })
      .from(jobs)
      .where(inArray(jobs.state, [...ACTIVE]))
      .groupBy(jobs.ownerId)
      .all()
    return new Map(rows.map((r) => [r.ownerId, r.n]))
  }

  /** Where a queued job stands: its owner's queued jobs ahead of it, and all queued jobs. */
  queuePosition(job: JobRow): { aheadOfMine: number; queued: number } {
    const ahead = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(
        and(
          eq(jobs.state, 'queued'),
          eq(jobs.ownerId, job.ownerId),
          sql`(${jobs.priority} > ${job.priority} or (${jobs.priority} = ${job.priority} and (${jobs.createdAt} < ${job.createdAt} or (${jobs.createdAt} = ${job.createdAt} and ${jobs.id} < ${job.id}))))`,
        ),
      )
      .get()
    const all = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
      .get()
    return { aheadOfMine: ahead?.n ?? 0, queued: all?.n ?? 0 }
  }

  /** Queued jobs, oldest first, without their script bodies. */
  queued(limit: number): Omit<JobRow, 'script'>[] {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
    const { script, ...cols } = getTableColumns(jobs)
    return this.db
      .select(cols)
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
      .orderBy(asc(jobs.createdAt), asc(jobs.id))
      .limit(limit)
      .all()
  }

  /** Hands a queued job to a worker under a new attempt; undefined when it is no longer queued. */
  assign(jobId: string, workerId: string, leaseExpiresAt: number, now = Date.now()): JobRow | undefined {
    return this.db.transaction((tx) => {
      const row = tx
        .update(jobs)
        .set({ state: 'assigned', workerId, leaseExpiresAt, attempt: sql`${jobs.attempt} + 1` })
        .where(and(eq(jobs.id, jobId), eq(jobs.state, 'queued')))
        .returning()
        .get()
      if (row) tx.insert(attempts).values({ jobId, attempt: row.attempt, workerId, assignedAt: now }).run()
      return row
    })
  }

  /** Marks the current attempt as running on its worker. */
  markRunning(lease: LeaseRef, workerId: string, now: number): boolean {
    return this.db.transaction((tx) => {
      const r = tx
        .update(jobs)
        .set({ state: 'running', startedAt: now })
        .where(this.heldBy(lease, workerId, ['assigned']))
        .returning({ id: jobs.id })
        .all()
      if (r.length === 1) tx.update(attempts).set({ startedAt: now }).where(this.attemptIs(lease)).run()
      return r.length === 1
    })
  }

  /** Every attempt of a job, oldest first. */
  attemptsOf(jobId: string): AttemptRow[] {
    return this.db
      .select()
      .from(attempts)
      .where(eq(attempts.jobId, jobId))
      .orderBy(asc(attempts.attempt))
      .all()
  }

  /** A worker as stored (its owner and pinned key). */
  worker(id: string): WorkerRow | undefined {
    return this.db.select().from(workers).where(eq(workers.id, id)).get()
  }

  private attemptIs(lease: LeaseRef) {
    return and(eq(attempts.jobId, lease.jobId), eq(attempts.attempt, lease.attempt))
  }

  private endAttempt(
    tx: ledger.Tx,
    lease: LeaseRef,
    outcome: string,
    reason: string | null,
    at: number,
    receipt?: Ending['receipt'],
  ): void {
    tx.update(attempts)
      .set({
        endedAt: at,
        outcome,
        reason,
        receipt: receipt?.body ?? null,
        signature: receipt?.signature ?? null,
      })
      .where(and(this.attemptIs(lease), sql`${attempts.endedAt} is null`))
      .run()
  }

  /** Extends the leases a worker still holds. */
  renew(workerId: string, leases: LeaseRef[], expiresAt: number): void {
    if (leases.length === 0) return
    this.db.transaction((tx) => {
      for (const l of leases) {
        tx.update(jobs)
          .set({ leaseExpiresAt: expiresAt })
          .where(this.heldBy(l, workerId, ACTIVE))
          .run()
      }
    })
  }

  /** Appends output under a live lease; false (and nothing written) when the lease is stale. */
  appendOutput(
    lease: LeaseRef,
    workerId: string,
    chunk: OutputChunk,
    capBytes: number,
  ): 'ok' | 'duplicate' | 'stale' | 'capped' {
    return this.db.transaction((tx) => {
      const job = tx
        .select({ outputBytes: jobs.outputBytes })
        .from(jobs)
        .where(this.heldBy(lease, workerId, ACTIVE))
        .get()
      if (!job) return 'stale'
      if (job.outputBytes + chunk.data.length > capBytes) return 'capped'
      const inserted = tx
        .insert(jobOutput)
        .values({ jobId: lease.jobId, attempt: lease.attempt, ...chunk })
        .onConflictDoNothing()
        .returning({ seq: jobOutput.seq })
        .all()
      // A chunk resent after a reconnect is already stored: it must not count twice.
      if (inserted.length === 0) return 'duplicate'
      tx.update(jobs)
        .set({ outputBytes: sql`${jobs.outputBytes} + ${chunk.data.length}` })
        .where(eq(jobs.id, lease.jobId))
        .run()
      return 'ok'
    })
  }

  /** Output of a job's current attempt after a sequence number. */
  output(jobId: string, attempt: number, afterSeq: number): OutputChunk[] {
    return this.db
      .select({ seq: jobOutput.seq, stream: jobOutput.stream, data: jobOutput.data })
      .from(jobOutput)
      .where(and(eq(jobOutput.jobId, jobId), eq(jobOutput.attempt, attempt), gt(jobOutput.seq, afterSeq)))
      .orderBy(asc(jobOutput.seq))
      .all()
  }

  /** Ends the attempt a worker holds and settles its credits in the same transaction; false when stale or already ended. */
  finish(lease: LeaseRef, workerId: string, end: Ending): boolean {
    return this.db.transaction((tx) => {
      const row = tx
        .update(jobs)
        .set({ ...this.ending(end), leaseExpiresAt: null })
        .where(this.heldBy(lease, workerId, ACTIVE))
        .returning()
        .get()
      if (!row) return false
      this.endAttempt(tx, lease, end.outcome, end.error, end.at, end.receipt)
      this.settle(tx, row, end.cost, end.at)
      return true
    })
  }

  private settle(tx: ledger.Tx, job: JobRow, cost: number, at: number): void {
    const payee = job.workerId
      ? tx.select({ ownerId: workers.ownerId }).from(workers).where(eq(workers.id, job.workerId)).get()
          ?.ownerId
      : undefined
    const paid = ledger.settle(tx, job, payee ?? null, payee ? cost : 0, at)
    tx.update(jobs).set({ cost: paid }).where(eq(jobs.id, job.id)).run()
  }

  /**
   * Cancels a job that has not ended and settles it: compute already used is paid (`costOf`
   * the running time), a job that never ran costs nothing. Returns the row as it was, or
   * undefined if it had already ended.
   */
  cancel(jobId: string, now: number, costOf: (job: JobRow) => number): JobRow | undefined {
    return this.db.transaction((tx) => {
      const before = tx.select().from(jobs).where(eq(jobs.id, jobId)).get()
      if (!before || !['queued', 'assigned', 'running'].includes(before.state)) return undefined
      const row = tx
        .update(jobs)
        .set({
          ...this.ending({
            state: 'cancelled',
            exitCode: null,
            outcome: 'cancelled',
            error: null,
            at: now,
            cost: 0,
          }),
          leaseExpiresAt: null,
        })
        .where(and(eq(jobs.id, jobId), eq(jobs.attempt, before.attempt), inArray(jobs.state, [before.state])))
        .returning()
        .get()
      if (row) {
        if (before.attempt > 0) {
          this.endAttempt(tx, { jobId, attempt: before.attempt }, 'cancelled', 'cancelled by its owner', now)
        }
        this.settle(tx, row, before.state === 'running' ? costOf(before) : 0, now)
      }
      return before
    })
  }

  /**
   * After a coordinator restart, gives every live lease until `until`: the time the coordinator
   * was down must not count against workers that are still running their jobs.
   */
  extendLeases(until: number): number {
    return this.db
      .update(jobs)
      .set({ leaseExpiresAt: until })
      .where(and(inArray(jobs.state, [...ACTIVE]), lt(jobs.leaseExpiresAt, until)))
      .returning({ id: jobs.id })
      .all().length
  }

  /** Jobs whose lease ran out before `now`. */
  expired(now: number): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(and(inArray(jobs.state, [...ACTIVE]), lt(jobs.leaseExpiresAt, now)))
      .all()
  }

  /** Puts an attempt back in the queue, or fails the job once it has used all its attempts. */
  requeue(
    lease: LeaseRef,
    reason: string,
    now: number,
    workerId?: string,
    how: { outcome: string; consumesAttempt: boolean; receipt?: Ending['receipt'] } = {
      outcome: 'lost',
      consumesAttempt: true,
    },
  ): 'queued' | 'failed' | 'stale' {
    return this.db.transaction((tx) => {
      // A worker's own report may only give back a lease it holds; expiry (no workerId) may take any.
      const held = workerId === undefined ? undefined : eq(jobs.workerId, workerId)
      const job = tx
        .select()
        .from(jobs)
        .where(
          and(
            eq(jobs.id, lease.jobId),
            eq(jobs.attempt, lease.attempt),
            inArray(jobs.state, [...ACTIVE]),
            held,
          ),
        )
        .get()
      if (!job) return 'stale'
      this.endAttempt(tx, lease, how.outcome, reason, now, how.receipt)
      // A job handed back by a draining worker did not fail: it keeps its number of tries.
      const maxAttempts = how.consumesAttempt ? job.maxAttempts : job.maxAttempts + 1
      if (job.attempt >= maxAttempts) {
        const row = tx
          .update(jobs)
          .set({
            ...this.ending({
              state: 'failed',
              exitCode: null,
              outcome: 'lost',
              error: reason,
              at: now,
              cost: 0,
            }),
            leaseExpiresAt: null,
          })
          .where(eq(jobs.id, job.id))
          .returning()
          .get()
        // The platform lost the job: it costs the submitter nothing.
        if (row) this.settle(tx, row, 0, now)
        return 'failed'
      }
      tx.update(jobs)
        .set({
          state: 'queued',
          workerId: null,
          leaseExpiresAt: null,
          startedAt: null,
          outputBytes: 0,
          error: reason,
          maxAttempts,
        })
        .where(eq(jobs.id, job.id))
        .run()
      return 'queued'
    })
  }

  /** Live leases a worker holds, per the database. */
  leasesOf(workerId: string): LeaseRef[] {
    return this.db
      .select({ jobId: jobs.id, attempt: jobs.attempt })
      .from(jobs)
      .where(and(eq(jobs.workerId, workerId), inArray(jobs.state, [...ACTIVE])))
      .all()
  }

  /** Job counts by state, for `/health`. */
  counts(): Record<string, number> {
    const rows = this.db
      .select({ state: jobs.state, n: sql<number>`count(*)` })
      .from(jobs)
      .where(inArray(jobs.state, ['queued', ...ACTIVE]))
      .groupBy(jobs.state)
      .all()
    return Object.fromEntries(rows.map((r) => [r.state, r.n]))
  }

  private heldBy(lease: LeaseRef, workerId: string, states: readonly JobRow['state'][]) {
    return and(
      eq(jobs.id, lease.jobId),
      eq(jobs.attempt, lease.attempt),
      eq(jobs.workerId, workerId),
      inArray(jobs.state, [...states]),
    )
  }

  private ending(end: Ending) {
    return {
      state: end.state,
      exitCode: end.exitCode,
      outcome: end.outcome,
      error: end.error,
      finishedAt: end.at,
    }
  }
}

import type { Database } from 'bun:sqlite'
import { and, asc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { AttemptRow, JobRow } from '../../../db/sqlite/schema'
import type { LeaseRef } from '../../../protocol/worker'
import {
  ACTIVE,
  cancelEnding,
  DEFAULT_TIMINGS,
  endingColumns,
  finalFailure,
  requeuedColumns,
  requeueLimit,
} from '../job-rules'
import type {
  Ending,
  LeaseTimings,
  LeasesRepo,
  OutputChunk,
  Requeue,
  StagedOutputs,
  StageResult,
} from '../types'
import type { WriteBatch } from './batch'
import { LaterTransfers } from './later'
import { type Db, settle, type Tx } from './ledger'
import { inLiveStates, underLease } from './live'
import type { Hot } from './prepared'

const { jobs, jobOutput, attempts } = schema

/** The batch kinds of a start and of a result's ending (see `markRunning`, `finish`). */
const START = 'start'
const FINISH = 'finish'

/**
 * Jobs under lease: assignment, start, output, the end of an attempt and its settlement,
 * cancellation, expiry and requeue. Every transition is compare-and-set on (job, attempt,
 * worker, state), so stale or repeated reports change nothing.
 */
export class SqliteLeases implements LeasesRepo {
  /** The results' settlements of a batch, made together after them. */
  private readonly later: LaterTransfers

  constructor(
    private readonly db: Db,
    private readonly batch: WriteBatch,
    private readonly hot: Hot,
    sqlite: Database,
  ) {
    this.later = new LaterTransfers(sqlite)
    batch.afterKind(
      FINISH,
      () => this.later.make(),
      () => this.later.discard(),
    )
  }

  private readonly owners = new Map<string, string>()

  /**
   * Hands a queued job to a worker under a new attempt, due to start within its timeout plus
   * `startAllowanceMs`; undefined when it is no longer queued.
   */
  async assign(
    jobId: string,
    workerId: string,
    leaseExpiresAt: number,
    now = Date.now(),
    startAllowanceMs = DEFAULT_TIMINGS.startAllowanceMs,
  ): Promise<JobRow | undefined> {
    return this.batch.run(() => assignOne(this.hot, jobId, workerId, leaseExpiresAt, now, startAllowanceMs))
  }

  /** `assign` for many jobs in one transaction (one commit for a whole scheduling pass). */
  async assignMany(
    picks: readonly { jobId: string; workerId: string; leaseExpiresAt: number }[],
    now: number,
    startAllowanceMs = DEFAULT_TIMINGS.startAllowanceMs,
  ): Promise<Map<string, JobRow>> {
    return this.batch.run(() => {
      const rows = new Map<string, JobRow>()
      for (const p of picks) {
        const row = assignOne(this.hot, p.jobId, p.workerId, p.leaseExpiresAt, now, startAllowanceMs)
        if (row) rows.set(p.jobId, row)
      }
      return rows
    })
  }

  /**
   * Marks the current attempt as running on its worker from `startedAt` (what billing counts
   * from: now, or its assignment when the start came late; see the hub), due to end within its
   * timeout plus `graceMs` of `now`.
   */
  async markRunning(
    lease: LeaseRef,
    workerId: string,
    now: number,
    graceMs = DEFAULT_TIMINGS.deadlineGraceMs,
    startedAt = now,
  ): Promise<boolean> {
    return this.batch.run(() => {
      const held = { ...lease, workerId }
      const r = this.hot.markRunning.all({ ...held, startedAt, now, grace: graceMs })
      if (r.length === 1) this.hot.attemptStarted.run({ ...lease, startedAt })
      return r.length === 1
    }, START)
  }

  /** Every attempt of a job, oldest first. */
  async attemptsOf(jobId: string): Promise<AttemptRow[]> {
    return this.hot.attemptsOf.all({ jobId })
  }

  /** The signed receipt an ended attempt was settled with, if it ended with one. */
  async recordedReceipt(lease: LeaseRef): Promise<{ body: string; signature: string } | undefined> {
    const a = this.hot.recordedReceipt.get(lease)
    return a?.body && a.signature ? { body: a.body, signature: a.signature } : undefined
  }

  private attemptIs(lease: LeaseRef) {
    return and(eq(attempts.jobId, lease.jobId), eq(attempts.attempt, lease.attempt))
  }

  private endAttempt(
    tx: Tx,
    lease: LeaseRef,
    outcome: string,
    reason: string | null,
    at: number,
    receipt?: Ending['receipt'],
  ): void {
    this.hot.endAttempt.run({
      jobId: lease.jobId,
      attempt: lease.attempt,
      at,
      outcome,
      reason,
      receipt: receipt?.body ?? null,
      signature: receipt?.signature ?? null,
    })
  }

  /**
   * Records the /out archive a worker uploaded for an attempt it holds, before it reports the
   * result. An attempt stages once: the same archive again (a retry whose answer was lost) is
   * `staged`, a different one is `other` (with the one kept), and `not_held` records nothing.
   */
  async stageOutputs(
    lease: LeaseRef,
    workerId: string,
    outputs: { sha256: string; bytes: number; files: number; dataBytes: number },
  ): Promise<StageResult> {
    return this.batch.run((tx) => {
      const held = tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(this.heldBy(lease, workerId, ACTIVE))
        .get()
      if (!held) return { result: 'not_held' as const }
      // Replacing it would leave the first on disk outside the quota's count until the sweep.
      const staged = tx
        .select({ sha256: attempts.outputsSha256 })
        .from(attempts)
        .where(this.attemptIs(lease))
        .get()?.sha256
      if (staged && staged !== outputs.sha256) return { result: 'other' as const, sha256: staged }
      tx.update(attempts)
        .set({
          outputsSha256: outputs.sha256,
          outputsBytes: outputs.bytes,
          outputsFiles: outputs.files,
          outputsDataBytes: outputs.dataBytes,
        })
        .where(this.attemptIs(lease))
        .run()
      return { result: 'staged' as const }
    })
  }

  /**
   * The /out archive staged for an attempt, if any, as the coordinator measured it (`files` and
   * `dataBytes` are null for archives staged before it measured them).
   */
  async stagedOutputs(lease: LeaseRef): Promise<StagedOutputs | undefined> {
    const a = this.db
      .select({
        sha256: attempts.outputsSha256,
        bytes: attempts.outputsBytes,
        files: attempts.outputsFiles,
        dataBytes: attempts.outputsDataBytes,
      })
      .from(attempts)
      .where(this.attemptIs(lease))
      .get()
    return a?.sha256
      ? { sha256: a.sha256, bytes: a.bytes ?? 0, files: a.files, dataBytes: a.dataBytes }
      : undefined
  }

  /** Extends the leases a worker still holds; returns those it extended. */
  async renew(workerId: string, leases: LeaseRef[], expiresAt: number): Promise<LeaseRef[]> {
    if (leases.length === 0) return []
    return this.batch.run(() => leases.flatMap((l) => this.hot.renew.all({ ...l, workerId, expiresAt })))
  }

  /** Appends output under a live lease; false (and nothing written) when the lease is stale. */
  async appendOutput(
    lease: LeaseRef,
    workerId: string,
    chunk: OutputChunk,
    capBytes: number,
  ): Promise<'ok' | 'duplicate' | 'stale' | 'capped'> {
    return this.batch.run((tx) => {
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
  async output(jobId: string, attempt: number, afterSeq: number): Promise<OutputChunk[]> {
    return this.db
      .select({ seq: jobOutput.seq, stream: jobOutput.stream, data: jobOutput.data })
      .from(jobOutput)
      .where(and(eq(jobOutput.jobId, jobId), eq(jobOutput.attempt, attempt), gt(jobOutput.seq, afterSeq)))
      .orderBy(asc(jobOutput.seq))
      .all()
  }

  /** Ends the attempt a worker holds and settles its credits in the same transaction; false when stale or already ended. */
  async finish(lease: LeaseRef, workerId: string, end: Ending): Promise<boolean> {
    return this.batch.run((tx) => {
      const payee = this.ownerOf(workerId)
      const row = this.hot.finishJob.get({
        ...lease,
        workerId,
        payee: payee === undefined ? 0 : 1,
        cost: end.cost,
        state: end.state,
        exitCode: end.exitCode,
        outcome: end.outcome,
        error: end.error,
        at: end.at,
        billedMs: end.billedMs,
        usage: end.usage ? 1 : 0,
        wallMs: end.usage ? Math.round(end.usage.wallMs) : null,
        cpuMs: end.usage?.cpuMs == null ? null : Math.round(end.usage.cpuMs),
        peakMemoryBytes: end.usage?.peakMemoryBytes ?? null,
        outputs: end.outputs ? 1 : 0,
        outputsSha256: end.outputs?.sha256 ?? null,
        outputsBytes: end.outputs?.bytes ?? null,
        outputFiles: end.outputs?.files ?? null,
      })
      if (!row) return false
      this.endAttempt(tx, lease, end.outcome, end.error, end.at, end.receipt)
      // The row's cost was set by the same rule (`settlement`) in the statement above.
      settle(tx, row, payee ?? null, payee === undefined ? 0 : end.cost, end.at, this.hot, this.later)
      return true
    }, FINISH)
  }

  /**
   * The account a worker's earnings go to. Kept once read: a worker id belongs for good to the
   * account that first used it (see workerRefusal), so the answer never changes.
   */
  private ownerOf(workerId: string): string | undefined {
    let owner = this.owners.get(workerId)
    if (owner === undefined) {
      owner = this.hot.ownerOfWorker.get({ id: workerId })?.ownerId
      if (owner !== undefined && this.owners.size < 100_000) this.owners.set(workerId, owner)
    }
    return owner
  }

  private settle(
    tx: Tx,
    job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt' | 'workerId'>,
    cost: number,
    at: number,
  ): void {
    const payee = job.workerId ? this.hot.ownerOfWorker.get({ id: job.workerId })?.ownerId : undefined
    const paid = settle(tx, job, payee ?? null, payee ? cost : 0, at, this.hot)
    this.hot.setCost.run({ id: job.id, cost: paid })
  }

  /**
   * Cancels a job that has not ended and settles it: compute already used is paid (`bill` says
   * how much time and what it costs), a job that never ran costs nothing. Returns the row as it
   * was, or undefined if it had already ended.
   */
  async cancel(
    jobId: string,
    now: number,
    bill: (job: JobRow, since: number | undefined) => { cost: number; billedMs: number },
  ): Promise<JobRow | undefined> {
    return this.batch.run((tx) => {
      const before = tx.select().from(jobs).where(eq(jobs.id, jobId)).get()
      if (!before || !['queued', 'assigned', 'running'].includes(before.state)) return undefined
      const since = tx
        .select({ assignedAt: attempts.assignedAt, startedAt: attempts.startedAt })
        .from(attempts)
        .where(this.attemptIs({ jobId, attempt: before.attempt }))
        .get()
      const began = since ? (since.startedAt ?? since.assignedAt) : undefined
      const billed = before.state === 'running' ? bill(before, began) : { cost: 0, billedMs: 0 }
      const row = tx
        .update(jobs)
        .set(endingColumns(cancelEnding(now, billed)))
        .where(and(eq(jobs.id, jobId), eq(jobs.attempt, before.attempt), inArray(jobs.state, [before.state])))
        .returning()
        .get()
      if (row) {
        if (before.attempt > 0) {
          this.endAttempt(tx, { jobId, attempt: before.attempt }, 'cancelled', 'cancelled by its owner', now)
        }
        this.settle(tx, row, billed.cost, now)
      }
      return before
    })
  }

  /**
   * After a coordinator restart, gives every live lease until `until`: the time the coordinator
   * was down must not count against workers that are still running their jobs.
   */
  async extendLeases(
    until: number,
    now = Date.now(),
    settings: LeaseTimings = DEFAULT_TIMINGS,
  ): Promise<number> {
    // Attempts from before deadlines were kept have none: they get the one they would have had
    // (from their start, or their assignment while not started), but at least a grace from now.
    const assignedAt = sql`(select ${attempts.assignedAt} from ${attempts} where ${attempts.jobId} = ${jobs.id} and ${attempts.attempt} = ${jobs.attempt})`
    const due = sql`case when ${jobs.state} = 'running'
      then coalesce(${jobs.startedAt}, ${assignedAt}) + ${jobs.timeoutMs} + ${settings.deadlineGraceMs}
      else ${assignedAt} + ${jobs.timeoutMs} + ${settings.startAllowanceMs} end`
    this.db
      .update(jobs)
      .set({ deadlineAt: sql`max(${now + settings.deadlineGraceMs}, coalesce(${due}, 0))` })
      .where(and(inLiveStates(ACTIVE), isNull(jobs.deadlineAt)))
      .run()
    // Nor against their deadlines: a result that waited for the coordinator to return is on time.
    this.db
      .update(jobs)
      .set({ deadlineAt: until })
      .where(and(underLease(ACTIVE), lt(jobs.deadlineAt, until)))
      .run()
    return this.db
      .update(jobs)
      .set({ leaseExpiresAt: until })
      .where(and(inLiveStates(ACTIVE), lt(jobs.leaseExpiresAt, until)))
      .returning({ id: jobs.id })
      .all().length
  }

  /** Jobs whose lease ran out before `now`. */
  async expired(now: number): Promise<JobRow[]> {
    return this.db
      .select()
      .from(jobs)
      .where(and(underLease(ACTIVE), lt(jobs.leaseExpiresAt, now)))
      .all()
  }

  /** Puts an attempt back in the queue, or fails the job once it has used all its attempts. */
  async requeue(
    lease: LeaseRef,
    reason: string,
    now: number,
    workerId?: string,
    how: Requeue = { outcome: 'lost', consumesAttempt: true },
  ): Promise<'queued' | 'failed' | 'stale'> {
    return this.batch.run((tx) => {
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
      const maxAttempts = requeueLimit(job, how)
      if (job.attempt >= maxAttempts) {
        const row = tx
          .update(jobs)
          .set(endingColumns(finalFailure(job, how, reason, now)))
          .where(eq(jobs.id, job.id))
          .returning()
          .get()
        // The platform lost the job: it costs the submitter nothing.
        if (row) this.settle(tx, row, 0, now)
        return 'failed'
      }
      tx.update(jobs)
        .set(requeuedColumns(job, reason, maxAttempts, how, workerId))
        .where(eq(jobs.id, job.id))
        .run()
      return 'queued'
    })
  }

  /** Live leases a worker holds, per the database. */
  async leasesOf(workerId: string): Promise<LeaseRef[]> {
    return this.db
      .select({ jobId: jobs.id, attempt: jobs.attempt })
      .from(jobs)
      .where(and(underLease(ACTIVE), eq(jobs.workerId, workerId)))
      .all()
  }

  private heldBy(lease: LeaseRef, workerId: string, states: readonly JobRow['state'][]) {
    return and(
      eq(jobs.id, lease.jobId),
      eq(jobs.attempt, lease.attempt),
      eq(jobs.workerId, workerId),
      inArray(jobs.state, [...states]),
    )
  }
}

/** Assigns one queued job to a worker under a new attempt, inside the open transaction. */
function assignOne(
  hot: Hot,
  jobId: string,
  workerId: string,
  leaseExpiresAt: number,
  now: number,
  allowance: number,
): JobRow | undefined {
  const row = hot.assign.get({ jobId, workerId, leaseExpiresAt, now, allowance })
  if (row) hot.insertAttempt.run({ jobId, attempt: row.attempt, workerId, now })
  return row
}

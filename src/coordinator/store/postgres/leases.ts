import { and, asc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { AttemptRow, JobRow } from '../../../db/sqlite/schema'
import type { LeaseRef } from '../../../protocol/worker'
import { ACTIVE, DEFAULT_TIMINGS } from '../job-rules'
import type {
  Ending,
  LeaseTimings,
  LeasesRepo,
  OutputChunk,
  Requeue,
  StagedOutputs,
  StageResult,
} from '../types'
import type { Db } from './db'
import { assignJobs } from './assign-sql'
import { attemptIs, cancel, heldBy, requeue } from './lease-ends'
import { assignJob, renewLeases } from './lease-sql'
import { FinishBatch, StartBatch } from './lease-batch'

const { jobs, jobOutput, attempts } = schema

/**
 * Jobs under lease on PostgreSQL. Every transition is a compare-and-set on (job, attempt, worker,
 * state) that PostgreSQL evaluates under the row's lock: of two coordinators racing for one
 * transition, the second re-reads the committed row and matches nothing.
 */
export class PgLeases implements LeasesRepo {
  private readonly finishes: FinishBatch
  private readonly starts: StartBatch

  constructor(private readonly db: Db) {
    this.finishes = new FinishBatch(db.$client)
    this.starts = new StartBatch(db.$client)
  }

  async assign(
    jobId: string,
    workerId: string,
    leaseExpiresAt: number,
    now = Date.now(),
    startAllowanceMs = DEFAULT_TIMINGS.startAllowanceMs,
  ): Promise<JobRow | undefined> {
    return await assignJob(this.db.$client, jobId, workerId, leaseExpiresAt, now, startAllowanceMs)
  }

  async assignMany(
    picks: readonly { jobId: string; workerId: string; leaseExpiresAt: number }[],
    now: number,
    startAllowanceMs = DEFAULT_TIMINGS.startAllowanceMs,
  ): Promise<Map<string, JobRow>> {
    if (picks.length === 0) return new Map()
    if (picks.length === 1) {
      const row = await this.assign(
        picks[0]!.jobId,
        picks[0]!.workerId,
        picks[0]!.leaseExpiresAt,
        now,
        startAllowanceMs,
      )
      return new Map(row ? [[row.id, row]] : [])
    }
    // One statement for the whole pass: a job another coordinator holds is skipped, not waited for.
    const rows = await assignJobs(this.db.$client, picks, now, startAllowanceMs)
    return new Map(rows.map((r) => [r.id, r]))
  }

  async markRunning(
    lease: LeaseRef,
    workerId: string,
    now: number,
    graceMs = DEFAULT_TIMINGS.deadlineGraceMs,
    startedAt = now,
  ): Promise<boolean> {
    return await this.starts.run({ lease, workerId, now, graceMs, startedAt })
  }

  async attemptsOf(jobId: string): Promise<AttemptRow[]> {
    return await this.db
      .select()
      .from(attempts)
      .where(eq(attempts.jobId, jobId))
      .orderBy(asc(attempts.attempt))
  }

  async recordedReceipt(lease: LeaseRef): Promise<{ body: string; signature: string } | undefined> {
    const [a] = await this.db
      .select({ body: attempts.receipt, signature: attempts.signature })
      .from(attempts)
      .where(and(attemptIs(lease), sql`${attempts.endedAt} is not null`))
    return a?.body && a.signature ? { body: a.body, signature: a.signature } : undefined
  }

  async stageOutputs(
    lease: LeaseRef,
    workerId: string,
    outputs: { sha256: string; bytes: number; files: number; dataBytes: number },
  ): Promise<StageResult> {
    return await this.db.transaction(async (tx): Promise<StageResult> => {
      // The job row's lock orders this against a result or requeue of the same attempt.
      const held = await tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(heldBy(lease, workerId, ACTIVE))
        .for('update')
      if (held.length === 0) return { result: 'not_held' }
      const [a] = await tx.select({ sha256: attempts.outputsSha256 }).from(attempts).where(attemptIs(lease))
      // Replacing it would leave the first on disk outside the quota's count until the sweep.
      if (a?.sha256 && a.sha256 !== outputs.sha256) return { result: 'other', sha256: a.sha256 }
      await tx
        .update(attempts)
        .set({
          outputsSha256: outputs.sha256,
          outputsBytes: outputs.bytes,
          outputsFiles: outputs.files,
          outputsDataBytes: outputs.dataBytes,
        })
        .where(attemptIs(lease))
      return { result: 'staged' }
    })
  }

  async stagedOutputs(lease: LeaseRef): Promise<StagedOutputs | undefined> {
    const [a] = await this.db
      .select({
        sha256: attempts.outputsSha256,
        bytes: attempts.outputsBytes,
        files: attempts.outputsFiles,
        dataBytes: attempts.outputsDataBytes,
      })
      .from(attempts)
      .where(attemptIs(lease))
    return a?.sha256
      ? { sha256: a.sha256, bytes: a.bytes ?? 0, files: a.files, dataBytes: a.dataBytes }
      : undefined
  }

  async renew(workerId: string, leases: LeaseRef[], expiresAt: number): Promise<LeaseRef[]> {
    if (leases.length === 0) return []
    return await renewLeases(this.db.$client, workerId, leases, expiresAt)
  }

  async appendOutput(
    lease: LeaseRef,
    workerId: string,
    chunk: OutputChunk,
    capBytes: number,
  ): Promise<'ok' | 'duplicate' | 'stale' | 'capped'> {
    return await this.db.transaction(async (tx) => {
      // Locked, so two chunks written at once through two coordinators are counted against the cap in turn.
      const [job] = await tx
        .select({ outputBytes: jobs.outputBytes })
        .from(jobs)
        .where(heldBy(lease, workerId, ACTIVE))
        .for('update')
      if (!job) return 'stale'
      if (job.outputBytes + chunk.data.length > capBytes) return 'capped'
      const inserted = await tx
        .insert(jobOutput)
        .values({ jobId: lease.jobId, attempt: lease.attempt, ...chunk })
        .onConflictDoNothing()
        .returning({ seq: jobOutput.seq })
      // A chunk resent after a reconnect is already stored: it must not count twice.
      if (inserted.length === 0) return 'duplicate'
      await tx
        .update(jobs)
        .set({ outputBytes: sql`${jobs.outputBytes} + ${chunk.data.length}` })
        .where(eq(jobs.id, lease.jobId))
      return 'ok'
    })
  }

  async output(jobId: string, attempt: number, afterSeq: number): Promise<OutputChunk[]> {
    return await this.db
      .select({ seq: jobOutput.seq, stream: jobOutput.stream, data: jobOutput.data })
      .from(jobOutput)
      .where(and(eq(jobOutput.jobId, jobId), eq(jobOutput.attempt, attempt), gt(jobOutput.seq, afterSeq)))
      .orderBy(asc(jobOutput.seq))
  }

  async finish(lease: LeaseRef, workerId: string, end: Ending): Promise<boolean> {
    return await this.finishes.run({ lease, workerId, end })
  }

  async cancel(
    jobId: string,
    now: number,
    bill: (job: JobRow, since: number | undefined) => { cost: number; billedMs: number },
  ): Promise<JobRow | undefined> {
    return await cancel(this.db, jobId, now, bill)
  }

  async extendLeases(
    until: number,
    now = Date.now(),
    timings: LeaseTimings = DEFAULT_TIMINGS,
  ): Promise<number> {
    return await this.db.transaction(async (tx) => {
      // Attempts from before deadlines were kept have none: they get the one they would have had
      // (from their start, or their assignment while not started), but at least a grace from now.
      const assignedAt = sql`(select ${attempts.assignedAt} from ${attempts} where ${attempts.jobId} = ${jobs.id} and ${attempts.attempt} = ${jobs.attempt})`
      const due = sql`case when ${jobs.state} = 'running'
        then coalesce(${jobs.startedAt}, ${assignedAt}) + ${jobs.timeoutMs} + ${timings.deadlineGraceMs}::bigint
        else ${assignedAt} + ${jobs.timeoutMs} + ${timings.startAllowanceMs}::bigint end`
      await tx
        .update(jobs)
        .set({ deadlineAt: sql`GREATEST(${now + timings.deadlineGraceMs}::bigint, coalesce(${due}, 0))` })
        .where(and(inArray(jobs.state, [...ACTIVE]), isNull(jobs.deadlineAt)))
      // Nor against their deadlines: a result that waited for the coordinator to return is on time.
      await tx
        .update(jobs)
        .set({ deadlineAt: until })
        .where(and(inArray(jobs.state, [...ACTIVE]), lt(jobs.deadlineAt, until)))
      const moved = await tx
        .update(jobs)
        .set({ leaseExpiresAt: until })
        .where(and(inArray(jobs.state, [...ACTIVE]), lt(jobs.leaseExpiresAt, until)))
        .returning({ id: jobs.id })
      return moved.length
    })
  }

  async expired(now: number): Promise<JobRow[]> {
    return await this.db
      .select()
      .from(jobs)
      .where(and(inArray(jobs.state, [...ACTIVE]), lt(jobs.leaseExpiresAt, now)))
      .orderBy(asc(jobs.createdAt), asc(jobs.id))
  }

  async requeue(
    lease: LeaseRef,
    reason: string,
    now: number,
    workerId?: string,
    how: Requeue = { outcome: 'lost', consumesAttempt: true },
  ): Promise<'queued' | 'failed' | 'stale'> {
    return await requeue(this.db, lease, reason, now, workerId, how)
  }

  async leasesOf(workerId: string): Promise<LeaseRef[]> {
    return await this.db
      .select({ jobId: jobs.id, attempt: jobs.attempt })
      .from(jobs)
      .where(and(eq(jobs.workerId, workerId), inArray(jobs.state, [...ACTIVE])))
  }
}

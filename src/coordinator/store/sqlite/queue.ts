import type { Database } from 'bun:sqlite'
import { and, desc, eq, isNull, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { ACTIVE, NEW_JOB_DEFAULTS } from '../job-rules'
import type { JobLease, JobListing, ListedJob, NewJob, QueuedJob, QueueRepo } from '../types'
import { sqliteListJobs } from './listing'
import type { WriteBatch } from './batch'
import type { Db } from './ledger'
import { LaterEscrows } from './later'
import { inLiveStates, underLease } from './live'
import type { Hot } from './prepared'

const { jobs } = schema

/** The batch kind of a submission (see `create`). */
const CREATE = 'create'

/** Jobs entering and waiting in the queue: submission with escrow, listings, fair-share views. */
export class SqliteQueue implements Omit<QueueRepo, 'queued'> {
  /** The escrows of a batch's submissions, made together after them. */
  private readonly escrows: LaterEscrows

  constructor(
    private readonly db: Db,
    private readonly batch: WriteBatch,
    private readonly hot: Hot,
    sqlite: Database,
  ) {
    this.escrows = new LaterEscrows(sqlite, hot)
    batch.afterKind(
      CREATE,
      () => this.escrows.make(),
      () => this.escrows.discard(),
    )
  }

  /** Queues a new job and escrows its maximum cost, atomically; 402 when the owner cannot afford it. */
  async create(job: NewJob): Promise<JobRow> {
    // The row as stored, built here rather than read back (RETURNING maps some forty columns).
    const row: JobRow = { ...NEW_JOB_DEFAULTS, ...job, state: 'queued' }
    return this.batch.run(() => {
      // The check first: a refusal (402) writes nothing. The escrow is taken once the row is in.
      this.escrows.check(row)
      this.hot.insertJob.run(row)
      this.escrows.take(row)
      return row
    }, CREATE)
  }

  /** One job by id. */
  async job(id: string): Promise<JobRow | undefined> {
    return this.hot.jobById.get({ id })
  }

  async jobLease(id: string): Promise<JobLease | undefined> {
    return this.hot.jobLease.get({ id })
  }

  /** The newest jobs of one user. */
  async jobsOf(ownerId: string, limit: number): Promise<JobRow[]> {
    return this.db
      .select()
      .from(jobs)
      .where(eq(jobs.ownerId, ownerId))
      .orderBy(desc(jobs.createdAt), desc(jobs.id))
      .limit(limit)
      .all()
  }

  /** A page of jobs without their scripts, newest first, as `listing` selects. */
  async list(listing: JobListing): Promise<ListedJob[]> {
    return sqliteListJobs(this.db, listing)
  }

  /** Every job assigned or running now, with its owner. */
  async active(): Promise<{ id: string; ownerId: string; arrayId: string | null }[]> {
    return this.db
      .select({ id: jobs.id, ownerId: jobs.ownerId, arrayId: jobs.arrayId })
      .from(jobs)
      .where(inLiveStates(ACTIVE))
      .all()
  }

  /** Where a queued job stands: its owner's queued jobs ahead of it, and all queued jobs. */
  async position(job: QueuedJob): Promise<{ aheadOfMine: number; queued: number }> {
    const ahead = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(
        and(
          inLiveStates(['queued']),
          eq(jobs.ownerId, job.ownerId),
          sql`(${jobs.priority} > ${job.priority} or (${jobs.priority} = ${job.priority} and (${jobs.createdAt} < ${job.createdAt} or (${jobs.createdAt} = ${job.createdAt} and ${jobs.id} < ${job.id}))))`,
        ),
      )
      .get()
    return { aheadOfMine: ahead?.n ?? 0, queued: (await this.counts())['queued'] ?? 0 }
  }

  /**
   * Job counts by state, for `/health`. From the indexes alone or nearly: the live jobs are
   * counted in `jobs_live` without reading a row (a backlog of 100,000 took 33 ms when each row
   * was read for its state, 5 ms this way), the ones under lease by state from `jobs_deadline`
   * (as many as the grid has slots), and the queued ones are the difference.
   */
  async counts(): Promise<Record<string, number>> {
    const live =
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(jobs)
        .where(isNull(jobs.finishedAt))
        .get()?.n ?? 0
    const leased = this.db
      .select({ state: jobs.state, n: sql<number>`count(*)` })
      .from(jobs)
      .where(underLease(ACTIVE))
      .groupBy(jobs.state)
      .all()
    const counts: Record<string, number> = {}
    const queued = live - leased.reduce((a, r) => a + r.n, 0)
    if (queued > 0) counts['queued'] = queued
    for (const r of leased) counts[r.state] = r.n
    return counts
  }
}

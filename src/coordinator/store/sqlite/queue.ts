import type { Database } from 'bun:sqlite'
import { and, desc, eq, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { ACTIVE, NEW_JOB_DEFAULTS } from '../job-rules'
import type { JobLease, JobListing, ListedJob, NewJob, QueuedJob, QueueRepo } from '../types'
import { sqliteListJobs } from './listing'
import type { WriteBatch } from './batch'
import type { Db } from './ledger'
import { LaterEscrows } from './later'
import { inLiveStates, liveJobs } from './live'
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
      this.escrows.take(row, job.createdAt)
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
    const all = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(inLiveStates(['queued']))
      .get()
    return { aheadOfMine: ahead?.n ?? 0, queued: all?.n ?? 0 }
  }

  /** Job counts by state, for `/health`. */
  async counts(): Promise<Record<string, number>> {
    const rows = this.db
      .select({ state: jobs.state, n: sql<number>`count(*)` })
      .from(jobs)
      .where(liveJobs)
      .groupBy(jobs.state)
      .all()
    return Object.fromEntries(rows.map((r) => [r.state, r.n]))
  }
}

import { desc, eq, inArray, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { ACTIVE, LIVE } from '../job-rules'
import type { JobLease, JobListing, ListedJob, NewJob, QueuedJob, QueueRepo } from '../types'
import { pgListJobs } from './listing'
import type { Db } from './db'
import { queuedJobs } from './queued-sql'
import { JOB_COLUMNS, toJobRow } from './job-row'
import { SubmitBatch } from './submit-batch'

const { jobs } = schema

/** $1 the job's id. */
const JOB_BY_ID = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1::text`
const LEASE_BY_ID = `SELECT id, owner_id, state, attempt, worker_id, started_at, cpus, timeout_ms, has_dependents FROM jobs WHERE id = $1::text`

/** `count(*)` is int8, which the driver hands back as a string. */
const count = () => sql<number>`count(*)`.mapWith(Number)

/** Jobs entering and waiting in the queue on PostgreSQL. */
export class PgQueue implements QueueRepo {
  private readonly submissions: SubmitBatch

  constructor(private readonly db: Db) {
    this.submissions = new SubmitBatch(db.$client)
  }

  async create(job: NewJob): Promise<JobRow> {
    return await this.submissions.create(job)
  }

  async job(id: string): Promise<JobRow | undefined> {
    // Fixed text, not drizzle's builder: read once per result, so its SQL is not rebuilt each time.
    const rows: Record<string, unknown>[] = await this.db.$client.unsafe(JOB_BY_ID, [id])
    return rows[0] ? toJobRow(rows[0]) : undefined
  }

  async jobLease(id: string): Promise<JobLease | undefined> {
    const rows: Record<string, unknown>[] = await this.db.$client.unsafe(LEASE_BY_ID, [id])
    return rows[0] ? toJobRow(rows[0]) : undefined
  }

  async jobsOf(ownerId: string, limit: number): Promise<JobRow[]> {
    return await this.db
      .select()
      .from(jobs)
      .where(eq(jobs.ownerId, ownerId))
      .orderBy(desc(jobs.createdAt), desc(jobs.id))
      .limit(limit)
  }

  async list(listing: JobListing): Promise<ListedJob[]> {
    return await pgListJobs(this.db, listing)
  }

  async active(): Promise<{ id: string; ownerId: string; arrayId: string | null }[]> {
    return await this.db
      .select({ id: jobs.id, ownerId: jobs.ownerId, arrayId: jobs.arrayId })
      .from(jobs)
      .where(inArray(jobs.state, [...ACTIVE]))
  }

  async queued(ids?: readonly string[]): Promise<QueuedJob[]> {
    return await queuedJobs(this.db.$client, ids)
  }

  async position(job: QueuedJob): Promise<{ aheadOfMine: number; queued: number }> {
    const [r] = await this.db
      .select({
        ahead:
          sql<number>`count(*) filter (where ${jobs.ownerId} = ${job.ownerId} and (${jobs.priority} > ${job.priority}
          or (${jobs.priority} = ${job.priority} and (${jobs.createdAt} < ${job.createdAt}
          or (${jobs.createdAt} = ${job.createdAt} and ${jobs.id} < ${job.id})))))`.mapWith(Number),
        queued: count(),
      })
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
    return { aheadOfMine: r?.ahead ?? 0, queued: r?.queued ?? 0 }
  }

  async counts(): Promise<Record<string, number>> {
    const rows = await this.db
      .select({ state: jobs.state, n: count() })
      .from(jobs)
      .where(inArray(jobs.state, [...LIVE]))
      .groupBy(jobs.state)
    return Object.fromEntries(rows.map((r) => [r.state, r.n]))
  }
}

import { desc, eq, inArray, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { ACTIVE, LIVE } from '../job-rules'
import type { NewJob, QueuedJob, QueueRepo } from '../types'
import type { Db } from './db'
import { queuedJobs } from './queued-sql'
import { createJob } from './submit-sql'

const { jobs } = schema

/** `count(*)` is int8, which the driver hands back as a string. */
const count = () => sql<number>`count(*)`.mapWith(Number)

/** Jobs entering and waiting in the queue on PostgreSQL. */
export class PgQueue implements QueueRepo {
  constructor(private readonly db: Db) {}

  async create(job: NewJob): Promise<JobRow> {
    return await createJob(this.db.$client, job)
  }

  async job(id: string): Promise<JobRow | undefined> {
    return (await this.db.select().from(jobs).where(eq(jobs.id, id)))[0]
  }

  async jobsOf(ownerId: string, limit: number): Promise<JobRow[]> {
    return await this.db
      .select()
      .from(jobs)
      .where(eq(jobs.ownerId, ownerId))
      .orderBy(desc(jobs.createdAt), desc(jobs.id))
      .limit(limit)
  }

  async active(): Promise<{ id: string; ownerId: string }[]> {
    return await this.db
      .select({ id: jobs.id, ownerId: jobs.ownerId })
      .from(jobs)
      .where(inArray(jobs.state, [...ACTIVE]))
  }

  async queued(ids?: readonly string[]): Promise<QueuedJob[]> {
    return await queuedJobs(this.db.$client, ids)
  }

  async position(job: JobRow): Promise<{ aheadOfMine: number; queued: number }> {
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

import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { LeaseRef } from '../../../protocol/worker'
import { ACTIVE } from '../job-rules'
import type { DeadlinesRepo, Overdue } from '../types'
import type { Db } from './ledger'
import type { Hot } from './prepared'

const { jobs } = schema

/**
 * The times the coordinator itself saw: when each attempt began, and by when it must end. A
 * live attempt's deadline is set when it is assigned (timeout plus an allowance to start) and
 * again when it starts (timeout plus a grace for the worker's report); an ended one has none.
 */
export class SqliteDeadlines implements DeadlinesRepo {
  constructor(
    private readonly db: Db,
    private readonly hot: Hot,
  ) {}

  /** When the coordinator saw an attempt begin: its `job.started`, or its assignment when none came. */
  async since(lease: LeaseRef): Promise<number | undefined> {
    const a = this.hot.attemptTimes.get(lease)
    return a ? (a.startedAt ?? a.assignedAt) : undefined
  }

  /**
   * Moves a live attempt's deadline to `until` when that is later (never earlier): time the
   * coordinator itself gives, e.g. for an /out upload it is metering. False when the attempt is
   * not `workerId`'s live one.
   */
  async extend(lease: LeaseRef, workerId: string, until: number): Promise<boolean> {
    return (
      this.db
        .update(jobs)
        .set({ deadlineAt: sql`max(coalesce(${jobs.deadlineAt}, ${until}), ${until})` })
        .where(
          and(
            eq(jobs.id, lease.jobId),
            eq(jobs.attempt, lease.attempt),
            eq(jobs.workerId, workerId),
            inArray(jobs.state, [...ACTIVE]),
          ),
        )
        .returning({ id: jobs.id })
        .all().length === 1
    )
  }

  /**
   * Up to `limit` live attempts past their deadline at `now`, the most overdue first. The index
   * `jobs_deadline` holds only live attempts, so this reads the overdue rows and nothing else.
   */
  async overdue(now: number, limit = 100): Promise<Overdue[]> {
    return this.db
      .select({
        id: jobs.id,
        attempt: jobs.attempt,
        state: jobs.state,
        workerId: jobs.workerId,
        cpus: jobs.cpus,
        timeoutMs: jobs.timeoutMs,
      })
      .from(jobs)
      .where(and(lt(jobs.deadlineAt, now), inArray(jobs.state, [...ACTIVE])))
      .orderBy(asc(jobs.deadlineAt))
      .limit(limit)
      .all()
  }
}

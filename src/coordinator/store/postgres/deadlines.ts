import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { LeaseRef } from '../../../protocol/worker'
import { ACTIVE } from '../job-rules'
import type { DeadlinesRepo, Overdue } from '../types'
import type { Db } from './db'

const { jobs, attempts } = schema

/** The times the coordinator itself saw, on PostgreSQL. */
export function pgDeadlines(db: Db): DeadlinesRepo {
  return {
    since: async (lease: LeaseRef) => {
      const [a] = await db
        .select({ assignedAt: attempts.assignedAt, startedAt: attempts.startedAt })
        .from(attempts)
        .where(and(eq(attempts.jobId, lease.jobId), eq(attempts.attempt, lease.attempt)))
      return a ? (a.startedAt ?? a.assignedAt) : undefined
    },
    // Never earlier: GREATEST is PostgreSQL's two-argument max.
    extend: async (lease, workerId, until) =>
      (
        await db
          .update(jobs)
          .set({ deadlineAt: sql`GREATEST(coalesce(${jobs.deadlineAt}, ${until}), ${until})` })
          .where(
            and(
              eq(jobs.id, lease.jobId),
              eq(jobs.attempt, lease.attempt),
              eq(jobs.workerId, workerId),
              inArray(jobs.state, [...ACTIVE]),
            ),
          )
          .returning({ id: jobs.id })
      ).length === 1,
    overdue: async (now, limit = 100): Promise<Overdue[]> =>
      await db
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
        .orderBy(asc(jobs.deadlineAt), asc(jobs.id))
        .limit(limit),
  }
}

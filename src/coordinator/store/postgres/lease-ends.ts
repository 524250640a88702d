import { and, eq, inArray, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import type { LeaseRef } from '../../../protocol/worker'
import {
  ACTIVE,
  cancelEnding,
  endingColumns,
  finalFailure,
  LIVE,
  requeuedColumns,
  requeueLimit,
} from '../job-rules'
import type { Ending, Requeue } from '../types'
import type { Db, Tx } from './db'
import { settle } from './ledger'

const { workers, jobs, attempts } = schema

// How attempts end on PostgreSQL: a result, a cancel, a requeue. Each locks the job's row first
// (an UPDATE, or SELECT ... FOR UPDATE), so a second coordinator ending the same attempt waits,
// then finds it ended and changes nothing.

/** The row condition of one attempt. */
export const attemptIs = (lease: LeaseRef) =>
  and(eq(attempts.jobId, lease.jobId), eq(attempts.attempt, lease.attempt))

/** The job row condition of a lease `workerId` holds in one of `states`. */
export function heldBy(lease: LeaseRef, workerId: string, states: readonly JobRow['state'][]) {
  return and(
    eq(jobs.id, lease.jobId),
    eq(jobs.attempt, lease.attempt),
    eq(jobs.workerId, workerId),
    inArray(jobs.state, [...states]),
  )
}

async function endAttempt(
  tx: Tx,
  lease: LeaseRef,
  outcome: string,
  reason: string | null,
  at: number,
  receipt?: Ending['receipt'],
): Promise<void> {
  await tx
    .update(attempts)
    .set({
      endedAt: at,
      outcome,
      reason,
      receipt: receipt?.body ?? null,
      signature: receipt?.signature ?? null,
    })
    .where(and(attemptIs(lease), sql`${attempts.endedAt} is null`))
}

/** Pays the worker's owner (nothing when no worker ran it) and releases the rest of the hold, writing the cost on the job. */
async function settleJob(tx: Tx, job: JobRow, cost: number, at: number): Promise<void> {
  const [payee] = job.workerId
    ? await tx.select({ ownerId: workers.ownerId }).from(workers).where(eq(workers.id, job.workerId))
    : []
  const paid = await settle(tx, job, payee?.ownerId ?? null, payee ? cost : 0, at)
  await tx.update(jobs).set({ cost: paid }).where(eq(jobs.id, job.id))
}

/** Cancels a job not yet ended and settles it; the row as it was, or undefined if it had ended. */
export async function cancel(
  db: Db,
  jobId: string,
  now: number,
  bill: (job: JobRow, since: number | undefined) => { cost: number; billedMs: number },
): Promise<JobRow | undefined> {
  return await db.transaction(async (tx) => {
    const [before] = await tx.select().from(jobs).where(eq(jobs.id, jobId)).for('update')
    if (!before || !(LIVE as readonly string[]).includes(before.state)) return undefined
    const [began] = await tx
      .select({ assignedAt: attempts.assignedAt, startedAt: attempts.startedAt })
      .from(attempts)
      .where(and(eq(attempts.jobId, jobId), eq(attempts.attempt, before.attempt)))
    const since = began ? (began.startedAt ?? began.assignedAt) : undefined
    const billed = before.state === 'running' ? bill(before, since) : { cost: 0, billedMs: 0 }
    const [row] = await tx
      .update(jobs)
      .set(endingColumns(cancelEnding(now, billed)))
      .where(and(eq(jobs.id, jobId), eq(jobs.attempt, before.attempt), eq(jobs.state, before.state)))
      .returning()
    if (row) {
      if (before.attempt > 0) {
        await endAttempt(tx, { jobId, attempt: before.attempt }, 'cancelled', 'cancelled by its owner', now)
      }
      await settleJob(tx, row, billed.cost, now)
    }
    return before
  })
}

/** Puts an attempt back in the queue, or fails the job once it has used all its attempts. */
export async function requeue(
  db: Db,
  lease: LeaseRef,
  reason: string,
  now: number,
  workerId: string | undefined,
  how: Requeue,
): Promise<'queued' | 'failed' | 'stale'> {
  return await db.transaction(async (tx) => {
    // A worker's own report may only give back a lease it holds; expiry (no workerId) may take any.
    const held = workerId === undefined ? undefined : eq(jobs.workerId, workerId)
    const [job] = await tx
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
      .for('update')
    if (!job) return 'stale'
    await endAttempt(tx, lease, how.outcome, reason, now, how.receipt)
    const maxAttempts = requeueLimit(job, how)
    if (job.attempt >= maxAttempts) {
      const [row] = await tx
        .update(jobs)
        .set(endingColumns(finalFailure(job, how, reason, now)))
        .where(eq(jobs.id, job.id))
        .returning()
      // The platform lost the job: it costs the submitter nothing.
      if (row) await settleJob(tx, row, 0, now)
      return 'failed'
    }
    await tx
      .update(jobs)
      .set(requeuedColumns(job, reason, maxAttempts, how, workerId))
      .where(eq(jobs.id, job.id))
    return 'queued'
  })
}

import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core'
import * as schema from '../../../db/sqlite/schema'
import { ACTIVE } from '../job-rules'
import type { Db } from './ledger'

const { accounts, attempts, jobs, tokens, transfers, users, workers } = schema
const p = sql.placeholder

/**
 * The statements every job runs several times (submit, assign, start, result, settlement), built
 * once with placeholders. drizzle otherwise rebuilds a query's SQL from its builder on every call:
 * after the statement cache, that was most of what a job cost the coordinator (the dispatch bench).
 * Prepared on the database handle, they run inside whatever transaction is open on it.
 */
export function prepareHot(db: Db) {
  const lease = and(eq(jobs.id, p('jobId')), eq(jobs.attempt, p('attempt')), eq(jobs.workerId, p('workerId')))
  const attemptOf = and(eq(attempts.jobId, p('jobId')), eq(attempts.attempt, p('attempt')))
  /** Keeps a column as it is unless `flag` is set: endings with and without usage or outputs share one statement. */
  const unless = (flag: string, value: string, column: SQLiteColumn) =>
    sql`case when ${p(flag)} then ${p(value)} else ${column} end`
  return {
    insertJob: db
      .insert(jobs)
      .values({
        id: p('id'),
        ownerId: p('ownerId'),
        state: 'queued',
        image: p('image'),
        command: p('command'),
        scriptName: p('scriptName'),
        script: p('script'),
        args: p('args'),
        timeoutMs: p('timeoutMs'),
        cpus: p('cpus'),
        memoryBytes: p('memoryBytes'),
        maxAttempts: p('maxAttempts'),
        priority: p('priority'),
        inputsSha256: p('inputsSha256'),
        inputsBytes: p('inputsBytes'),
        filesBytes: p('filesBytes'),
        requirements: p('requirements'),
        requiresPython: p('requiresPython'),
        maxCost: p('maxCost'),
        createdAt: p('createdAt'),
        // Job environment, name and labels (issue 17).
        name: p('name'),
        labels: p('labels'),
        env: p('env'),
      })
      .prepare(),
    finishJob: db
      .update(jobs)
      .set({
        state: sql`${p('state')}`,
        exitCode: sql`${p('exitCode')}`,
        outcome: sql`${p('outcome')}`,
        error: sql`${p('error')}`,
        finishedAt: sql`${p('at')}`,
        billedMs: sql`${p('billedMs')}`,
        deadlineAt: null,
        leaseExpiresAt: null,
        // What settlement pays (ledger-rules.ts `settlement`): the cost within the escrow, to a worker's owner.
        cost: sql`case when ${p('payee')} then min(max(0, ${p('cost')}), ${jobs.maxCost}) else 0 end`,
        wallMs: unless('usage', 'wallMs', jobs.wallMs),
        cpuMs: unless('usage', 'cpuMs', jobs.cpuMs),
        peakMemoryBytes: unless('usage', 'peakMemoryBytes', jobs.peakMemoryBytes),
        outputsSha256: unless('outputs', 'outputsSha256', jobs.outputsSha256),
        outputsBytes: unless('outputs', 'outputsBytes', jobs.outputsBytes),
        outputFiles: unless('outputs', 'outputFiles', jobs.outputFiles),
      })
      .where(and(lease, inArray(jobs.state, [...ACTIVE])))
      .returning({
        id: jobs.id,
        ownerId: jobs.ownerId,
        maxCost: jobs.maxCost,
        attempt: jobs.attempt,
        workerId: jobs.workerId,
      })
      .prepare(),
    attemptsOf: db
      .select()
      .from(attempts)
      .where(eq(attempts.jobId, p('jobId')))
      .orderBy(asc(attempts.attempt))
      .prepare(),
    jobById: db
      .select()
      .from(jobs)
      .where(eq(jobs.id, p('id')))
      .prepare(),
    jobLease: db
      .select({
        id: jobs.id,
        ownerId: jobs.ownerId,
        state: jobs.state,
        attempt: jobs.attempt,
        workerId: jobs.workerId,
        startedAt: jobs.startedAt,
        cpus: jobs.cpus,
        timeoutMs: jobs.timeoutMs,
        hasDependents: jobs.hasDependents,
      })
      .from(jobs)
      .where(eq(jobs.id, p('id')))
      .prepare(),
    userByToken: db
      .select({ user: users, expiresAt: tokens.expiresAt })
      .from(tokens)
      .innerJoin(users, eq(tokens.userId, users.id))
      .where(and(eq(tokens.hash, p('hash')), gt(tokens.expiresAt, p('now'))))
      .prepare(),
    workerById: db
      .select()
      .from(workers)
      .where(eq(workers.id, p('id')))
      .prepare(),
    attemptTimes: db
      .select({ assignedAt: attempts.assignedAt, startedAt: attempts.startedAt })
      .from(attempts)
      .where(attemptOf)
      .prepare(),
    recordedReceipt: db
      .select({ body: attempts.receipt, signature: attempts.signature })
      .from(attempts)
      .where(and(attemptOf, sql`${attempts.endedAt} is not null`))
      .prepare(),
    insertTransfer: db
      .insert(transfers)
      .values({
        id: p('id'),
        kind: p('kind'),
        fromAccount: p('from'),
        toAccount: p('to'),
        amount: p('amount'),
        jobId: p('jobId'),
        memo: p('memo'),
        createdAt: p('at'),
      })
      .onConflictDoNothing({ target: transfers.id })
      .returning({ seq: transfers.seq })
      .prepare(),
    /** Both sides of a transfer in one statement (the CHECK still refuses a negative balance). */
    move: db
      .update(accounts)
      .set({
        balance: sql`${accounts.balance} + case ${accounts.id} when ${p('to')} then ${p('amount')} else -${p('amount')} end`,
      })
      .where(inArray(accounts.id, [p('from'), p('to')]))
      .prepare(),
    balances: db
      .select({ id: accounts.id, balance: accounts.balance })
      .from(accounts)
      .where(inArray(accounts.id, [p('user'), p('escrow')]))
      .prepare(),
    assign: db
      .update(jobs)
      .set({
        state: 'assigned',
        workerId: sql`${p('workerId')}`,
        leaseExpiresAt: sql`${p('leaseExpiresAt')}`,
        attempt: sql`${jobs.attempt} + 1`,
        deadlineAt: sql`${p('now')} + ${jobs.timeoutMs} + ${p('allowance')}`,
      })
      .where(and(eq(jobs.id, p('jobId')), eq(jobs.state, 'queued')))
      .returning()
      .prepare(),
    insertAttempt: db
      .insert(attempts)
      .values({ jobId: p('jobId'), attempt: p('attempt'), workerId: p('workerId'), assignedAt: p('now') })
      .prepare(),
    markRunning: db
      .update(jobs)
      .set({
        state: 'running',
        startedAt: sql`${p('startedAt')}`,
        deadlineAt: sql`${p('now')} + ${jobs.timeoutMs} + ${p('grace')}`,
      })
      .where(and(lease, eq(jobs.state, 'assigned')))
      .returning({ id: jobs.id })
      .prepare(),
    attemptStarted: db
      .update(attempts)
      .set({ startedAt: sql`${p('startedAt')}` })
      .where(attemptOf)
      .prepare(),
    endAttempt: db
      .update(attempts)
      .set({
        endedAt: sql`${p('at')}`,
        outcome: sql`${p('outcome')}`,
        reason: sql`${p('reason')}`,
        receipt: sql`${p('receipt')}`,
        signature: sql`${p('signature')}`,
      })
      .where(and(attemptOf, sql`${attempts.endedAt} is null`))
      .prepare(),
    ownerOfWorker: db
      .select({ ownerId: workers.ownerId })
      .from(workers)
      .where(eq(workers.id, p('id')))
      .prepare(),
    setCost: db
      .update(jobs)
      .set({ cost: sql`${p('cost')}` })
      .where(eq(jobs.id, p('id')))
      .prepare(),
    renew: db
      .update(jobs)
      .set({ leaseExpiresAt: sql`${p('expiresAt')}` })
      .where(and(lease, inArray(jobs.state, [...ACTIVE])))
      .returning({ jobId: jobs.id, attempt: jobs.attempt })
      .prepare(),
  }
}

/** The prepared statements of one SQLite database. */
export type Hot = ReturnType<typeof prepareHot>

import { and, asc, desc, eq, getTableColumns, inArray, lte, notInArray, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { NEW_JOB_DEFAULTS } from '../job-rules'
import { escrowAccount, hold, userAccount } from '../ledger-rules'
import type { Dependency, DependentsSettled, WorkflowsRepo } from '../types'
import {
  arrayUnaffordable,
  decide,
  cancelledForDependency,
  dependencyAlreadyFailed,
  FINAL_STATES,
  FIRST_KEY,
  groupWaiters,
  type Verdict,
  type Waiter,
} from '../workflow-rules'
import type { Db, Tx } from './db'
import { lockAccounts, settle, shift } from './ledger'

const { jobs, jobDeps } = schema
/** The jobs a waiter's dependencies are, beside the waiter's own row in one query. */
const endedJob = alias(jobs, 'ended')

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
const { script, ...QUEUED } = getTableColumns(jobs)

/**
 * Arrays and dependencies on PostgreSQL. Locks are taken as every ledger step takes them: job
 * rows first (a dependency's, as its ending does), then the owner's accounts, so a submission
 * `--after` a job and that job's settlement wait for each other instead of deadlocking.
 */
export function pgWorkflows(db: Db): WorkflowsRepo {
  return {
    async create(news, after) {
      const first = news[0]
      if (!first) return []
      return await db.transaction(async (tx) => {
        let held = false
        if (after && after.ids.length > 0) {
          const deps = await tx
            .select({ id: jobs.id, state: jobs.state })
            .from(jobs)
            .where(inArray(jobs.id, [...after.ids]))
            .orderBy(asc(jobs.id))
            .for('update')
          const verdict = decide(deps.map((d) => ({ ...d, anyEnd: after.anyEnd })))
          if (verdict.kind === 'cancel') throw dependencyAlreadyFailed(verdict.reason)
          held = verdict.kind === 'wait'
          await tx
            .update(jobs)
            .set({ hasDependents: true })
            .where(inArray(jobs.id, [...after.ids]))
        }
        const locked = await lockAccounts(tx, [userAccount(first.ownerId), escrowAccount(first.ownerId)])
        const balance = locked.get(userAccount(first.ownerId)) ?? 0
        const total = news.reduce((n, j) => n + j.maxCost, 0)
        if (balance < total) throw arrayUnaffordable(news.length, total, balance)
        const rows = news.map((j): JobRow => ({ ...NEW_JOB_DEFAULTS, ...j, state: 'queued', held }))
        for (let i = 0; i < rows.length; i += 500) await tx.insert(jobs).values(rows.slice(i, i + 500))
        // Every member's hold at once: the members are one user's, and it is their sum.
        await shift(tx, hold({ ownerId: first.ownerId, maxCost: total }))
        if (after && after.ids.length > 0) {
          const links = rows.flatMap((r) =>
            after.ids.map((id) => ({ jobId: r.id, dependsOn: id, anyEnd: after.anyEnd })),
          )
          for (let i = 0; i < links.length; i += 500) await tx.insert(jobDeps).values(links.slice(i, i + 500))
        }
        return rows
      })
    },

    async members(arrayId) {
      return await db.select(QUEUED).from(jobs).where(eq(jobs.arrayId, arrayId)).orderBy(asc(jobs.arrayIndex))
    },

    async dependencies(jobId) {
      return await dependenciesOf(db, jobId)
    },

    async settleDependents(ended, now) {
      return await db.transaction(async (tx) => await cascade(tx, await waitersOf(tx, ended), now))
    },

    async settleHeld(held, now) {
      return await db.transaction(
        async (tx) =>
          await cascade(
            tx,
            held.map((id) => ({ id, ended: undefined })),
            now,
          ),
      )
    },

    async heldPage(after, limit) {
      const from = after ?? FIRST_KEY
      return await db
        .select({ at: jobs.createdAt, id: jobs.id })
        .from(jobs)
        .where(
          and(
            sql`${jobs.held} and ${jobs.state} = 'queued'`,
            sql`(${jobs.createdAt}, ${jobs.id}) > (${from.at}, ${from.id})`,
          ),
        )
        .orderBy(asc(jobs.createdAt), asc(jobs.id))
        .limit(limit)
    },

    async endedWithDependents(after, until, limit) {
      const from = after ?? FIRST_KEY
      return await db
        .select({ at: sql<number>`${jobs.finishedAt}`.mapWith(Number), id: jobs.id })
        .from(jobs)
        .where(
          and(
            sql`${jobs.hasDependents} and ${jobs.finishedAt} is not null`,
            sql`(${jobs.finishedAt}, ${jobs.id}) > (${from.at}, ${from.id})`,
            lte(jobs.finishedAt, until),
          ),
        )
        .orderBy(asc(jobs.finishedAt), asc(jobs.id))
        .limit(limit)
    },
  }
}

/**
 * Decides `waiters`, releasing or cancelling (refunded) each as its dependencies say, then the
 * jobs waiting for those it cancelled, and so on down the chain (as on SQLite).
 */
async function cascade(tx: Tx, waiters: Waiter[], now: number): Promise<DependentsSettled> {
  const out: DependentsSettled = { released: [], cancelled: [] }
  while (waiters.length > 0) {
    const doomed: string[] = []
    for (const waiter of waiters) {
      const verdict = await judge(tx, waiter)
      if (verdict.kind === 'wait') continue
      const mine = and(eq(jobs.id, waiter.id), eq(jobs.held, true), eq(jobs.state, 'queued'))
      if (verdict.kind === 'release') {
        const [row] = await tx.update(jobs).set({ held: false }).where(mine).returning(QUEUED)
        if (row) out.released.push(row)
        continue
      }
      const [row] = await tx
        .update(jobs)
        .set(cancelledForDependency(verdict.reason, now))
        .where(mine)
        .returning({ id: jobs.id, ownerId: jobs.ownerId, maxCost: jobs.maxCost, attempt: jobs.attempt })
      if (!row) continue
      // Never ran: its whole escrow goes back to its owner.
      await settle(tx, row, null, 0, now)
      out.cancelled.push({ id: waiter.id, ownerId: row.ownerId, reason: verdict.reason })
      doomed.push(waiter.id)
    }
    waiters = doomed.length > 0 ? await waitersOf(tx, doomed) : []
  }
  return out
}

/** What a waiter's dependencies say, read as `verdictOnEnd` reads them (newest first for one still open). */
async function judge(tx: Tx, waiter: Waiter): Promise<Verdict> {
  const early = waiter.ended && decide(waiter.ended)
  if (early?.kind === 'cancel') return early
  if (early) {
    const [open] = await tx
      .select({ id: jobDeps.dependsOn })
      .from(jobDeps)
      .innerJoin(jobs, eq(jobs.id, jobDeps.dependsOn))
      .where(and(eq(jobDeps.jobId, waiter.id), notInArray(jobs.state, FINAL_STATES)))
      .orderBy(desc(jobDeps.dependsOn))
      .limit(1)
    if (open) return { kind: 'wait' }
  }
  return decide(await dependenciesOf(tx, waiter.id))
}

/** The held jobs waiting for any of `ended`, each with those of its dependencies among them. */
async function waitersOf(tx: Tx, ended: readonly string[]): Promise<Waiter[]> {
  if (ended.length === 0) return []
  const rows = await tx
    .select({ waiter: jobDeps.jobId, id: jobDeps.dependsOn, anyEnd: jobDeps.anyEnd, state: endedJob.state })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.jobId))
    .innerJoin(endedJob, eq(endedJob.id, jobDeps.dependsOn))
    .where(and(inArray(jobDeps.dependsOn, [...ended]), eq(jobs.held, true), eq(jobs.state, 'queued')))
  return groupWaiters(rows)
}

/** A job's dependencies with their states now. */
async function dependenciesOf(tx: Tx, jobId: string): Promise<Dependency[]> {
  return await tx
    .select({ id: jobDeps.dependsOn, state: jobs.state, anyEnd: jobDeps.anyEnd })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.dependsOn))
    .where(eq(jobDeps.jobId, jobId))
}

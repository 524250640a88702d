import { and, asc, eq, getTableColumns, inArray, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { NEW_JOB_DEFAULTS } from '../job-rules'
import { escrowAccount, escrowMovement, userAccount } from '../ledger-rules'
import type { Dependency, DependentsSettled, WorkflowsRepo } from '../types'
import { arrayUnaffordable, decide, DEPENDENCY_OUTCOME, dependencyAlreadyFailed } from '../workflow-rules'
import type { Db, Tx } from './db'
import { lockAccounts, settle, transfer } from './ledger'

const { jobs, jobDeps } = schema

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
const { script, ...QUEUED } = getTableColumns(jobs)

/** Held jobs one sweep decides at most (the rest wait for the next). */
const SWEEP_LIMIT = 1000

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
        for (const row of rows) await transfer(tx, escrowMovement(row, row.createdAt))
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
      return await db.transaction(async (tx) => {
        const out: DependentsSettled = { released: [], cancelled: [] }
        let candidates = ended === undefined ? await heldJobs(tx) : await dependentsOf(tx, ended)
        while (candidates.length > 0) {
          const doomed: string[] = []
          for (const id of candidates) {
            const verdict = decide(await dependenciesOf(tx, id))
            if (verdict.kind === 'wait') continue
            const mine = and(eq(jobs.id, id), eq(jobs.held, true), eq(jobs.state, 'queued'))
            if (verdict.kind === 'release') {
              const [row] = await tx.update(jobs).set({ held: false }).where(mine).returning(QUEUED)
              if (row) out.released.push(row)
              continue
            }
            const [row] = await tx
              .update(jobs)
              .set({
                state: 'cancelled',
                held: false,
                outcome: DEPENDENCY_OUTCOME,
                error: verdict.reason,
                finishedAt: now,
                cost: 0,
                billedMs: 0,
              })
              .where(mine)
              .returning({ id: jobs.id, ownerId: jobs.ownerId, maxCost: jobs.maxCost, attempt: jobs.attempt })
            if (!row) continue
            // Never ran: its whole escrow goes back to its owner.
            await settle(tx, row, null, 0, now)
            out.cancelled.push({ id, ownerId: row.ownerId, reason: verdict.reason })
            doomed.push(id)
          }
          candidates = doomed.length > 0 ? await dependentsOf(tx, doomed) : []
        }
        return out
      })
    },
  }
}

/** A job's dependencies with their states now. */
async function dependenciesOf(tx: Tx, jobId: string): Promise<Dependency[]> {
  return await tx
    .select({ id: jobDeps.dependsOn, state: jobs.state, anyEnd: jobDeps.anyEnd })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.dependsOn))
    .where(eq(jobDeps.jobId, jobId))
}

/** The held jobs waiting for any of `ids`. */
async function dependentsOf(tx: Tx, ids: readonly string[]): Promise<string[]> {
  const rows = await tx
    .selectDistinct({ id: jobDeps.jobId })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.jobId))
    .where(and(inArray(jobDeps.dependsOn, [...ids]), eq(jobs.held, true), eq(jobs.state, 'queued')))
  return rows.map((r) => r.id)
}

/** Held jobs, oldest first (the partial index jobs_held holds exactly them). */
async function heldJobs(tx: Tx): Promise<string[]> {
  const rows = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(sql`${jobs.held} and ${jobs.state} = 'queued'`)
    .orderBy(asc(jobs.createdAt))
    .limit(SWEEP_LIMIT)
  return rows.map((r) => r.id)
}

import type { Database } from 'bun:sqlite'
import { and, asc, eq, getTableColumns, inArray, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { NEW_JOB_DEFAULTS } from '../job-rules'
import { escrowMovement } from '../ledger-rules'
import type { Dependency, DependentsSettled, NewJob, QueuedJob, WorkflowsRepo } from '../types'
import { arrayUnaffordable, decide, DEPENDENCY_OUTCOME, dependencyAlreadyFailed } from '../workflow-rules'
import type { WriteBatch } from './batch'
import { LaterTransfers } from './later'
import { balances, type Db, settle, type Tx } from './ledger'

const { jobs, jobDeps } = schema

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
const { script, ...QUEUED } = getTableColumns(jobs)

/** Rows of one multi-row INSERT: a jobs row binds some forty values, well inside SQLite's 32,766. */
const ROWS_PER_INSERT = 200

/** `items` in runs of at most `n`. */
function chunks<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n))
  return out
}

/** Held jobs one sweep decides at most (the rest wait for the next). */
const SWEEP_LIMIT = 1000

/** Arrays and dependencies on SQLite: every change one transaction of the write batch. */
export class SqliteWorkflows implements WorkflowsRepo {
  /** An array's escrows, made in two statements for all its members. */
  private readonly escrows: LaterTransfers

  constructor(
    private readonly db: Db,
    private readonly batch: WriteBatch,
    sqlite: Database,
  ) {
    this.escrows = new LaterTransfers(sqlite)
  }

  async create(news: NewJob[], after?: { ids: readonly string[]; anyEnd: boolean }): Promise<JobRow[]> {
    return this.batch.run((tx) => {
      const first = news[0]
      if (!first) return []
      const total = news.reduce((n, j) => n + j.maxCost, 0)
      const { balance } = balances(tx, first.ownerId)
      if (balance < total) throw arrayUnaffordable(news.length, total, balance)
      let held = false
      if (after && after.ids.length > 0) {
        const deps = tx
          .select({ id: jobs.id, state: jobs.state })
          .from(jobs)
          .where(inArray(jobs.id, [...after.ids]))
          .all()
        const verdict = decide(deps.map((d) => ({ ...d, anyEnd: after.anyEnd })))
        if (verdict.kind === 'cancel') throw dependencyAlreadyFailed(verdict.reason)
        held = verdict.kind === 'wait'
        tx.update(jobs)
          .set({ hasDependents: true })
          .where(inArray(jobs.id, [...after.ids]))
          .run()
      }
      const rows = news.map((j): JobRow => ({ ...NEW_JOB_DEFAULTS, ...j, state: 'queued', held }))
      // Many rows to a statement: one statement per member held the event loop about 0.2 ms each
      // (a 2,000-member array, 0.4 s).
      for (const part of chunks(rows, ROWS_PER_INSERT)) tx.insert(jobs).values(part).run()
      const deps = after
        ? rows.flatMap((row) =>
            after.ids.map((id) => ({ jobId: row.id, dependsOn: id, anyEnd: after.anyEnd })),
          )
        : []
      for (const part of chunks(deps, ROWS_PER_INSERT)) tx.insert(jobDeps).values(part).run()
      this.escrows.add(rows.map((row) => escrowMovement(row, row.createdAt)))
      this.escrows.make()
      return rows
    })
  }

  async members(arrayId: string): Promise<QueuedJob[]> {
    return this.db
      .select(QUEUED)
      .from(jobs)
      .where(eq(jobs.arrayId, arrayId))
      .orderBy(asc(jobs.arrayIndex))
      .all()
  }

  async dependencies(jobId: string): Promise<Dependency[]> {
    return dependenciesOf(this.db, jobId)
  }

  async settleDependents(ended: readonly string[] | undefined, now: number): Promise<DependentsSettled> {
    return this.batch.run((tx) => {
      const out: DependentsSettled = { released: [], cancelled: [] }
      let candidates = ended === undefined ? heldJobs(tx) : dependentsOf(tx, ended)
      while (candidates.length > 0) {
        const doomed: string[] = []
        for (const id of candidates) {
          const verdict = decide(dependenciesOf(tx, id))
          if (verdict.kind === 'wait') continue
          if (verdict.kind === 'release') {
            const row = tx
              .update(jobs)
              .set({ held: false })
              .where(and(eq(jobs.id, id), eq(jobs.held, true), eq(jobs.state, 'queued')))
              .returning()
              .get()
            if (row) out.released.push(withoutScript(row))
            continue
          }
          const row = tx
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
            .where(and(eq(jobs.id, id), eq(jobs.held, true), eq(jobs.state, 'queued')))
            .returning()
            .get()
          if (!row) continue
          // Never ran: its whole escrow goes back to its owner.
          settle(tx, row, null, 0, now)
          out.cancelled.push({ id, ownerId: row.ownerId, reason: verdict.reason })
          doomed.push(id)
        }
        candidates = doomed.length > 0 ? dependentsOf(tx, doomed) : []
      }
      return out
    })
  }
}

/** A job's dependencies with their states now. */
function dependenciesOf(tx: Tx, jobId: string): Dependency[] {
  return tx
    .select({ id: jobDeps.dependsOn, state: jobs.state, anyEnd: jobDeps.anyEnd })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.dependsOn))
    .where(eq(jobDeps.jobId, jobId))
    .all()
}

/** The held jobs waiting for any of `ids`. */
function dependentsOf(tx: Tx, ids: readonly string[]): string[] {
  return tx
    .selectDistinct({ id: jobDeps.jobId })
    .from(jobDeps)
    .innerJoin(jobs, eq(jobs.id, jobDeps.jobId))
    .where(and(inArray(jobDeps.dependsOn, [...ids]), eq(jobs.held, true), eq(jobs.state, 'queued')))
    .all()
    .map((r) => r.id)
}

/** Held jobs, oldest first (the partial index jobs_held holds exactly them). */
function heldJobs(tx: Tx): string[] {
  return tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(sql`${jobs.held} = 1 and ${jobs.state} = 'queued'`)
    .orderBy(asc(jobs.createdAt))
    .limit(SWEEP_LIMIT)
    .all()
    .map((r) => r.id)
}

function withoutScript(row: JobRow): QueuedJob {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose
  const { script, ...rest } = row
  return rest
}

import type { Database } from 'bun:sqlite'
import { and, asc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import { NEW_JOB_DEFAULTS } from '../job-rules'
import { hold } from '../ledger-rules'
import type { Dependency, DependentsSettled, NewJob, QueuedJob, SweepKey, WorkflowsRepo } from '../types'
import {
  arrayUnaffordable,
  decide,
  cancelledForDependency,
  dependencyAlreadyFailed,
  FINAL_STATES,
  FIRST_KEY,
  groupWaiters,
  type Verdict,
  verdictOnEnd,
  type Waiter,
} from '../workflow-rules'
import type { WriteBatch } from './batch'
import { balances, type Db, settle, shift, type Tx } from './ledger'

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

/** Arrays and dependencies on SQLite: every change one transaction of the write batch. */
export class SqliteWorkflows implements WorkflowsRepo {
  /** The reads of a dependency's end, prepared. */
  private readonly looks: Looks

  constructor(
    private readonly db: Db,
    private readonly batch: WriteBatch,
    sqlite: Database,
  ) {
    this.looks = new Looks(sqlite)
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
      // Every member's hold at once: the members are one user's, and it is their sum.
      shift(tx, hold({ ownerId: first.ownerId, maxCost: total }))
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

  async settleDependents(ended: readonly string[], now: number): Promise<DependentsSettled> {
    return this.batch.run((tx) => cascade(tx, this.looks, this.looks.waitersOf(ended), now))
  }

  async settleHeld(held: readonly string[], now: number): Promise<DependentsSettled> {
    return this.batch.run((tx) =>
      cascade(
        tx,
        this.looks,
        held.map((id) => ({ id, ended: undefined })),
        now,
      ),
    )
  }

  async heldPage(after: SweepKey | undefined, limit: number): Promise<SweepKey[]> {
    const from = after ?? FIRST_KEY
    return this.db
      .select({ at: jobs.createdAt, id: jobs.id })
      .from(jobs)
      .where(
        and(
          sql`${jobs.held} = 1 and ${jobs.state} = 'queued'`,
          sql`(${jobs.createdAt}, ${jobs.id}) > (${from.at}, ${from.id})`,
        ),
      )
      .orderBy(asc(jobs.createdAt), asc(jobs.id))
      .limit(limit)
      .all()
  }

  async endedWithDependents(after: SweepKey | undefined, until: number, limit: number): Promise<SweepKey[]> {
    const from = after ?? FIRST_KEY
    return this.db
      .select({ at: sql<number>`${jobs.finishedAt}`, id: jobs.id })
      .from(jobs)
      .where(
        and(
          sql`${jobs.hasDependents} = 1 and ${jobs.finishedAt} is not null`,
          sql`(${jobs.finishedAt}, ${jobs.id}) > (${from.at}, ${from.id})`,
          lte(jobs.finishedAt, until),
        ),
      )
      .orderBy(asc(jobs.finishedAt), asc(jobs.id))
      .limit(limit)
      .all()
  }
}

/**
 * Decides `waiters`, releasing or cancelling (refunded) each as its dependencies say, then the
 * jobs waiting for those it cancelled, and so on down the chain.
 */
function cascade(tx: Tx, looks: Looks, waiters: Waiter[], now: number): DependentsSettled {
  const out: DependentsSettled = { released: [], cancelled: [] }
  while (waiters.length > 0) {
    const doomed: string[] = []
    for (const waiter of waiters) {
      const verdict = looks.judge(tx, waiter)
      if (verdict.kind === 'wait') continue
      const mine = and(eq(jobs.id, waiter.id), eq(jobs.held, true), eq(jobs.state, 'queued'))
      if (verdict.kind === 'release') {
        const row = tx.update(jobs).set({ held: false }).where(mine).returning().get()
        if (row) out.released.push(withoutScript(row))
        continue
      }
      const row = tx
        .update(jobs)
        .set(cancelledForDependency(verdict.reason, now))
        .where(mine)
        .returning()
        .get()
      if (!row) continue
      // Never ran: its whole escrow goes back to its owner.
      settle(tx, row, null, 0, now)
      out.cancelled.push({ id: waiter.id, ownerId: row.ownerId, reason: verdict.reason })
      doomed.push(waiter.id)
    }
    waiters = looks.waitersOf(doomed)
  }
  return out
}

/**
 * The two reads a dependency's end makes, prepared once (built by drizzle at each call they cost
 * more than the rest of the settlement: bench/dependents.ts).
 */
class Looks {
  /** The held jobs waiting for any of the ids (a JSON array), with each such dependency and its state. */
  private readonly waiters
  /** One dependency of a job not ended yet, newest first (ids grow with time: the likeliest open). */
  private readonly open

  constructor(sqlite: Database) {
    this.waiters = sqlite.query<
      { waiter: string; id: string; anyEnd: number; state: Dependency['state'] },
      [string]
    >(
      `SELECT d.job_id AS waiter, d.depends_on AS id, d.any_end AS anyEnd, e.state AS state
       FROM json_each(?1) AS x
       JOIN job_deps d ON d.depends_on = x.value
       JOIN jobs h ON h.id = d.job_id
       JOIN jobs e ON e.id = d.depends_on
       WHERE h.held = 1 AND h.state = 'queued'`,
    )
    this.open = sqlite.query<{ id: string }, [string]>(
      `SELECT d.depends_on AS id FROM job_deps d JOIN jobs j ON j.id = d.depends_on
       WHERE d.job_id = ?1 AND j.state NOT IN (${FINAL_STATES.map((s) => `'${s}'`).join(', ')})
       ORDER BY d.depends_on DESC LIMIT 1`,
    )
  }

  /** The held jobs waiting for any of `ended`, each with those of its dependencies among them. */
  waitersOf(ended: readonly string[]): Waiter[] {
    if (ended.length === 0) return []
    const rows = this.waiters.all(JSON.stringify(ended))
    return groupWaiters(rows.map((r) => ({ ...r, anyEnd: r.anyEnd === 1 })))
  }

  /** What a waiter's dependencies say: see `verdictOnEnd`. */
  judge(tx: Tx, waiter: Waiter): Verdict {
    return verdictOnEnd(
      waiter.ended,
      () => this.open.get(waiter.id) !== null,
      () => dependenciesOf(tx, waiter.id),
    )
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

function withoutScript(row: JobRow): QueuedJob {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose
  const { script, ...rest } = row
  return rest
}

import { and, asc, desc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../db/sqlite/schema'
import type { JobRow } from '../db/sqlite/schema'
import * as ledger from './ledger'

const { jobs } = schema
/** The states in which a job holds a lease. */
export const ACTIVE = ['assigned', 'running'] as const

/** The drizzle handle every part of the store shares. */
export type Db = BunSQLiteDatabase<typeof schema>

/** A new job as the API hands it to the store. */
export type NewJob = Omit<
  JobRow,
  | 'state'
  | 'attempt'
  | 'workerId'
  | 'leaseExpiresAt'
  | 'exitCode'
  | 'outcome'
  | 'error'
  | 'outputBytes'
  | 'startedAt'
  | 'finishedAt'
  | 'cost'
  | 'priority'
  | 'outputsSha256'
  | 'outputsBytes'
  | 'outputFiles'
  | 'wallMs'
  | 'billedMs'
  | 'deadlineAt'
  | 'cpuMs'
  | 'peakMemoryBytes'
  | 'inputsSha256'
  | 'inputsBytes'
  | 'filesBytes'
  | 'requirements'
  | 'requiresPython'
  | 'installFailedOn'
> & {
  priority?: number
  requirements?: string[]
  requiresPython?: string | null
  inputsSha256?: string | null
  inputsBytes?: number | null
  filesBytes?: number | null
}

/** How a job attempt ended, as written to its row. */
export interface Ending {
  state: 'succeeded' | 'failed' | 'cancelled'
  exitCode: number | null
  outcome: string
  error: string | null
  at: number
  /** Millicredits owed to the worker's owner for compute used (0 when the platform failed). */
  cost: number
  /** The time `cost` pays for (see `billedMs` in pricing.ts); 0 when nothing is billed. */
  billedMs: number
  /** The worker's signed receipt of the result, kept with the attempt. */
  receipt?: { body: string; signature: string } | undefined
  /** What the attempt used, as its worker measured it. */
  usage?: { wallMs: number; cpuMs: number | null; peakMemoryBytes: number | null } | undefined
  /** The attempt's /out archive (already uploaded and staged with the attempt). */
  outputs?: { sha256: string; bytes: number; files: number } | undefined
}

/** One stored chunk of a job's output. */
export interface OutputChunk {
  seq: number
  stream: 'stdout' | 'stderr'
  data: Buffer
}

/** Jobs entering and waiting in the queue: submission with escrow, listings, fair-share views. */
export class QueueStore {
  constructor(protected readonly db: Db) {}

  /** Queues a new job and escrows its maximum cost, atomically; 402 when the owner cannot afford it. */
  createJob(job: NewJob): JobRow {
    return this.db.transaction((tx) => {
      const row = tx
        .insert(jobs)
        .values({ ...job, state: 'queued' })
        .returning()
        .get()
      ledger.escrow(tx, row, job.createdAt)
      return row
    })
  }

  /** One job by id. */
  job(id: string): JobRow | undefined {
    return this.db.select().from(jobs).where(eq(jobs.id, id)).get()
  }

  /** The newest jobs of one user. */
  jobsOf(ownerId: string, limit: number): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(eq(jobs.ownerId, ownerId))
      .orderBy(desc(jobs.createdAt), desc(jobs.id))
      .limit(limit)
      .all()
  }

  /**
   * For fair share: the first `perOwner` queued jobs of every user with queued jobs, each
   * user's in their own order (priority, then age), without script bodies.
   */
  queuedByOwner(perOwner: number): Map<string, Omit<JobRow, 'script'>[]> {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
    const { script, ...cols } = getTableColumns(jobs)
    const ranked = this.db
      .select({
        id: jobs.id,
        rank: sql<number>`row_number() over (partition by ${jobs.ownerId} order by ${jobs.priority} desc, ${jobs.createdAt}, ${jobs.id})`.as(
          'rank',
        ),
      })
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
      .as('ranked')
    const rows = this.db
      .select(cols)
      .from(jobs)
      .innerJoin(ranked, eq(jobs.id, ranked.id))
      .where(lte(ranked.rank, perOwner))
      .orderBy(asc(jobs.ownerId), asc(ranked.rank))
      .all()
    const byOwner = new Map<string, Omit<JobRow, 'script'>[]>()
    for (const r of rows) {
      const list = byOwner.get(r.ownerId) ?? []
      list.push(r)
      byOwner.set(r.ownerId, list)
    }
    return byOwner
  }

  /** How many jobs each user has assigned or running now. */
  activeByOwner(): Map<string, number> {
    const rows = this.db
      .select({ ownerId: jobs.ownerId, n: sql<number>`count(*)` })
      .from(jobs)
      .where(inArray(jobs.state, [...ACTIVE]))
      .groupBy(jobs.ownerId)
      .all()
    return new Map(rows.map((r) => [r.ownerId, r.n]))
  }

  /** Where a queued job stands: its owner's queued jobs ahead of it, and all queued jobs. */
  queuePosition(job: JobRow): { aheadOfMine: number; queued: number } {
    const ahead = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(
        and(
          eq(jobs.state, 'queued'),
          eq(jobs.ownerId, job.ownerId),
          sql`(${jobs.priority} > ${job.priority} or (${jobs.priority} = ${job.priority} and (${jobs.createdAt} < ${job.createdAt} or (${jobs.createdAt} = ${job.createdAt} and ${jobs.id} < ${job.id}))))`,
        ),
      )
      .get()
    const all = this.db
      .select({ n: sql<number>`count(*)` })
      .from(jobs)
      .where(eq(jobs.state, 'queued'))
      .get()
    return { aheadOfMine: ahead?.n ?? 0, queued: all?.n ?? 0 }
  }

  /** Job counts by state, for `/health`. */
  counts(): Record<string, number> {
    const rows = this.db
      .select({ state: jobs.state, n: sql<number>`count(*)` })
      .from(jobs)
      .where(inArray(jobs.state, ['queued', ...ACTIVE]))
      .groupBy(jobs.state)
      .all()
    return Object.fromEntries(rows.map((r) => [r.state, r.n]))
  }
}

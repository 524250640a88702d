import { and, asc, desc, eq, getTableColumns, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { QueuedJob, QueueRepo } from '../types'
import type { Db } from './ledger'
import { inLiveStates } from './live'

const { jobs } = schema

// The queue in fair-share order, for a coordinator's in-memory queue index (see QueueRepo.queued).

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
const { script, ...cols } = getTableColumns(jobs)

/** Every queued job without its script, or those of `ids` still queued, in fair-share order (SQLite compares text byte-wise). */
export function sqliteQueued(db: Db): (ids?: readonly string[]) => Promise<QueuedJob[]> {
  const order = [asc(jobs.ownerId), desc(jobs.priority), asc(jobs.createdAt), asc(jobs.id)] as const
  const all = db
    .select(cols)
    .from(jobs)
    // Held jobs wait for their dependencies: the index holds them only once released.
    .where(and(inLiveStates(['queued']), eq(jobs.held, false)))
    .orderBy(...order)
    .prepare()
  // The ids as one JSON parameter, however many (SQLite caps the bound parameters of a statement).
  const some = db
    .select(cols)
    .from(jobs)
    .where(
      and(
        eq(jobs.state, 'queued'),
        eq(jobs.held, false),
        sql`${jobs.id} in (select value from json_each(${sql.placeholder('ids')}))`,
      ),
    )
    .orderBy(...order)
    .prepare()
  return async (ids) => {
    if (ids === undefined) return all.all()
    if (ids.length === 0) return []
    return some.all({ ids: JSON.stringify(ids) })
  }
}

/** A queue repository given `queued` on SQLite. */
export function withQueued(repo: Omit<QueueRepo, 'queued'>, db: Db): QueueRepo {
  const queued = sqliteQueued(db)
  return Object.assign(repo, { queued })
}

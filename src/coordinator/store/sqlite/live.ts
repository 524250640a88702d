import { and, inArray, sql, type SQL } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { LIVE } from '../job-rules'

const { jobs } = schema

/**
 * The predicate of the partial index `jobs_queue` (the same expression). SQLite uses a partial
 * index only for a query that states its predicate (a bound `state IN (?, ?)` proves nothing to
 * the planner), so without it every query of live jobs read the whole table, ended jobs and all:
 * the lease sweep once a second, `/health`, each metrics scrape, a worker's reconnect, the
 * queue's load at start.
 */
export const liveJobs = sql`${jobs.state} in ('queued', 'assigned', 'running')`

/** Jobs in one of `states` (all live), in a form SQLite reads from `jobs_queue`: use it, not `inArray`. */
export function inLiveStates(states: readonly (typeof LIVE)[number][]): SQL {
  return and(liveJobs, inArray(jobs.state, [...states]))!
}

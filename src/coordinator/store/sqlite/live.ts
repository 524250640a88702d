import { and, inArray, isNotNull, isNull, type SQL } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import { type ACTIVE, LIVE } from '../job-rules'

const { jobs } = schema

/**
 * Live jobs, in a form SQLite reads from the partial index `jobs_live`: its predicate (a job's
 * `finished_at` is set exactly when it ends), then the states. SQLite uses a partial index only
 * for a query that states its predicate (a bound `state IN (?, ?)` proves nothing to the
 * planner), so without it every query of live jobs read the whole table, ended jobs and all:
 * `/health`, each metrics scrape, the queue's load at start, a user's storage quota. Jobs in one
 * of `states` (all live): use it, not `inArray` alone.
 */
export function inLiveStates(states: readonly (typeof LIVE)[number][]): SQL {
  return and(isNull(jobs.finishedAt), inArray(jobs.state, [...states]))!
}

/** Every live job (see `inLiveStates`). */
export const liveJobs = inLiveStates(LIVE)

/**
 * Jobs under lease (assigned or running), read from `jobs_deadline`: each has a deadline while its
 * attempt lasts (the start's extendLeases gives one to any from before deadlines were kept), so
 * the lease sweep each second reads those, never a backlog of queued jobs.
 */
export function underLease(states: readonly (typeof ACTIVE)[number][]): SQL {
  return and(isNotNull(jobs.deadlineAt), inArray(jobs.state, [...states]))!
}

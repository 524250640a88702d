import { sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'

const { jobs } = schema

/**
 * The predicate of the partial index `jobs_queue` (the same expression): queries of live jobs add
 * it to their WHERE. SQLite uses a partial index only for a query that states its predicate (a bound
 * `state IN (?, ?)` proves nothing to the planner), so without it every such query read the
 * whole table, ended jobs and all: the lease sweep once a second, `/health`, each metrics
 * scrape, a worker's reconnect, the queue's load at start.
 */
export const liveJobs = sql`${jobs.state} in ('queued', 'assigned', 'running')`

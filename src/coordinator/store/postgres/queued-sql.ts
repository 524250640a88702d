import type { SQL } from 'bun'
import type { QueuedJob } from '../types'
import { QUEUED_COLUMNS, toQueuedJob } from './job-row'

// The queue in fair-share order, for a coordinator's in-memory queue index (loaded whole at
// start, then the jobs other coordinators announce). Owner and id sort byte-wise (COLLATE "C"),
// as SQLite's do, so both engines hand back one order; the partial index jobs_queued_order
// (migration 0003) holds exactly these rows in exactly this order, so neither query sorts.

const ORDER = `owner_id COLLATE "C", priority DESC, created_at, id COLLATE "C"`

const ALL = `SELECT ${QUEUED_COLUMNS} FROM jobs WHERE state = 'queued' AND NOT held ORDER BY ${ORDER}`

/**
 * $1 the ids, as a JSON array (one parameter however many). Looked up by primary key, then
 * sorted: left to itself the planner walks jobs_queued_order (already in this order) and filters
 * it, reading the whole queue for a few ids, and every coordinator does this for every job
 * another one queues.
 */
const SOME = `SELECT j.* FROM (SELECT jsonb_array_elements_text($1::jsonb) AS want) w
CROSS JOIN LATERAL (SELECT ${QUEUED_COLUMNS} FROM jobs WHERE id = w.want AND state = 'queued' AND NOT held) j
ORDER BY ${ORDER}`

/** Every queued job without its script, or those of `ids` still queued, in fair-share order. */
export async function queuedJobs(client: SQL, ids?: readonly string[]): Promise<QueuedJob[]> {
  if (ids !== undefined && ids.length === 0) return []
  // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
  const rows: Record<string, unknown>[] =
    ids === undefined ? await client.unsafe(ALL) : await client.unsafe(SOME, [ids])
  return rows.map(toQueuedJob)
}

import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import { toJobRow } from './job-row'

/**
 * A scheduling pass's assignments in one statement (one round trip, one commit): every job
 * still queued is locked with SKIP LOCKED (one another coordinator is assigning is skipped at
 * once, not waited for), moved to `assigned` under its worker, and its attempt opened.
 *
 * Each job is locked through a LATERAL probe of the primary key, one id at a time: asked for
 * `id IN (...) AND state = 'queued'`, the planner (its statistics taken while the queue was
 * short) read every queued job from jobs_queued_order to find a pass's few: 9,787 index entries
 * for 6 jobs, 4 of the statement's 7 ms (the dispatch bench, auto_explain), work that grew with
 * the queue. The update then reads them by `id = ANY (ARRAY(...))`, an index scan whatever the
 * statistics say: joined to the locked ids, it read the whole table for them (a hash join over a
 * sequential scan, the planner taking the batch for a hundred rows). The settlement and start
 * statements find their jobs the same way. Locked, the rows are still queued, so the update needs
 * no second look at their state. As in
 * `assignJob`, the data-modifying CTEs commit together or not at all. $1 the picks as a JSON
 * array of {jobId, workerId, leaseExpiresAt}, $2 now, $3 the start allowance.
 */
const ASSIGN_MANY = `
WITH want AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS w("jobId" text, "workerId" text, "leaseExpiresAt" bigint)
), pick AS (
  SELECT p.id FROM want w CROSS JOIN LATERAL (
    SELECT j.id FROM jobs j WHERE j.id = w."jobId" AND j.state = 'queued' FOR UPDATE SKIP LOCKED
  ) p
), job AS (
  UPDATE jobs j SET state = 'assigned', worker_id = w."workerId", lease_expires_at = w."leaseExpiresAt",
    attempt = j.attempt + 1, deadline_at = $2::bigint + j.timeout_ms + $3::bigint
  FROM pick, want w WHERE j.id = ANY (ARRAY(SELECT id FROM pick)) AND j.id = pick.id AND w."jobId" = pick.id
  RETURNING j.*
), opened AS (
  INSERT INTO attempts (job_id, attempt, worker_id, assigned_at)
  SELECT job.id, job.attempt, job.worker_id, $2::bigint FROM job
)
SELECT * FROM job`

/** Assigns many queued jobs in one statement; the rows of those it assigned (the others were taken or are held elsewhere). */
export async function assignJobs(
  client: SQL,
  picks: readonly { jobId: string; workerId: string; leaseExpiresAt: number }[],
  now: number,
  startAllowanceMs: number,
): Promise<JobRow[]> {
  const want = picks.map((p) => ({ jobId: p.jobId, workerId: p.workerId, leaseExpiresAt: p.leaseExpiresAt }))
  // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
  const rows: Record<string, unknown>[] = await client.unsafe(ASSIGN_MANY, [want, now, startAllowanceMs])
  return rows.map(toJobRow)
}

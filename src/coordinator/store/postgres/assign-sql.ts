import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import { toJobRow } from './job-row'

/**
 * A scheduling pass's assignments in one statement (one round trip, one commit): every job
 * still queued is locked with SKIP LOCKED (one another coordinator is assigning is skipped at
 * once, not waited for), moved to `assigned` under its worker, and its attempt opened. As in
 * `assignJob`, the data-modifying CTEs commit together or not at all. $1 the picks as a JSON
 * array of {jobId, workerId, leaseExpiresAt}, $2 now, $3 the start allowance.
 */
const ASSIGN_MANY = `
WITH want AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS w("jobId" text, "workerId" text, "leaseExpiresAt" bigint)
), pick AS (
  SELECT j.id FROM jobs j WHERE j.id IN (SELECT "jobId" FROM want) AND j.state = 'queued'
  FOR UPDATE SKIP LOCKED
), job AS (
  UPDATE jobs j SET state = 'assigned', worker_id = w."workerId", lease_expires_at = w."leaseExpiresAt",
    attempt = j.attempt + 1, deadline_at = $2::bigint + j.timeout_ms + $3::bigint
  FROM pick, want w WHERE j.id = pick.id AND w."jobId" = pick.id AND j.state = 'queued'
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

import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import type { LeaseRef } from '../../../protocol/worker'
import { toJobRow } from './job-row'

/*
 * The per-job lease steps, each one statement (one round trip, no BEGIN/COMMIT; Bun prepares
 * each text once per connection). A data-modifying CTE runs once, to completion, in the
 * statement's transaction: the job's compare-and-set and its attempt row commit together or not
 * at all, as the transactions they replace did.
 */

/**
 * Assigns a queued job: its row locked with SKIP LOCKED (a job another coordinator is assigning
 * is skipped at once rather than waited for), its attempt opened. $1 job, $2 worker, $3 lease
 * expiry, $4 now, $5 the start allowance.
 */
const ASSIGN = `
WITH pick AS (
  SELECT id FROM jobs WHERE id = $1::text AND state = 'queued' FOR UPDATE SKIP LOCKED
), job AS (
  UPDATE jobs j SET state = 'assigned', worker_id = $2::text, lease_expires_at = $3::bigint,
    attempt = j.attempt + 1, deadline_at = $4::bigint + j.timeout_ms + $5::bigint
  FROM pick WHERE j.id = pick.id AND j.state = 'queued'
  RETURNING j.*
), opened AS (
  INSERT INTO attempts (job_id, attempt, worker_id, assigned_at)
  SELECT job.id, job.attempt, $2::text, $4::bigint FROM job
)
SELECT * FROM job`

/** Assigns a queued job to a worker in one statement; undefined when it is no longer queued or another coordinator holds it. */
export async function assignJob(
  client: SQL,
  jobId: string,
  workerId: string,
  leaseExpiresAt: number,
  now: number,
  startAllowanceMs: number,
): Promise<JobRow | undefined> {
  const rows: Record<string, unknown>[] = await client.unsafe(ASSIGN, [
    jobId,
    workerId,
    leaseExpiresAt,
    now,
    startAllowanceMs,
  ])
  return rows[0] ? toJobRow(rows[0]) : undefined
}

/** $1 worker, $2 the new expiry, $3 the leases as a JSON array of {jobId, attempt}. */
const RENEW = `
UPDATE jobs j SET lease_expires_at = $2::bigint
FROM jsonb_to_recordset($3::jsonb) AS l("jobId" text, attempt int)
WHERE j.id = l."jobId" AND j.attempt = l.attempt AND j.worker_id = $1::text
  AND j.state IN ('assigned', 'running')
RETURNING j.id AS "jobId", j.attempt`

/** Extends every lease a worker still holds of `leases`, in one statement; returns those it extended. */
export async function renewLeases(
  client: SQL,
  workerId: string,
  leases: LeaseRef[],
  expiresAt: number,
): Promise<LeaseRef[]> {
  const refs = leases.map((l) => ({ jobId: l.jobId, attempt: l.attempt }))
  // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
  const rows: { jobId: string; attempt: number }[] = await client.unsafe(RENEW, [workerId, expiresAt, refs])
  return rows.map((r) => ({ jobId: r.jobId, attempt: Number(r.attempt) }))
}

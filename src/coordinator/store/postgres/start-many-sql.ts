import type { SQL } from 'bun'
import type { LeaseRef } from '../../../protocol/worker'
import { leaseKey } from './settle-many-sql'

/** A start to record: the attempt a worker holds, when it began, and its deadline's terms. */
export interface Starting {
  lease: LeaseRef
  workerId: string
  now: number
  graceMs: number
  startedAt: number
}

/**
 * $1 the starts as a JSON array. Each assigned attempt still held by its worker becomes running,
 * due within its timeout plus the grace, and its attempt row records the start. Its job is
 * locked by id first, one primary-key probe each (see assign-sql.ts), in the batch's order.
 */
const START_MANY = `
WITH s AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS s("jobId" text, attempt int, "workerId" text, now bigint, "startedAt" bigint, grace bigint)
), cur AS (
  SELECT s.* FROM s CROSS JOIN LATERAL (
    SELECT j.id FROM jobs j
    WHERE j.id = s."jobId" AND j.attempt = s.attempt AND j.worker_id = s."workerId" AND j.state = 'assigned'
    FOR UPDATE
  ) c
), job AS (
  UPDATE jobs j SET state = 'running', started_at = cur."startedAt",
    deadline_at = cur.now + j.timeout_ms + cur.grace
  FROM cur WHERE j.id = ANY (ARRAY(SELECT "jobId" FROM cur)) AND j.id = cur."jobId"
  RETURNING j.id, j.attempt, cur."startedAt"
), began AS (
  UPDATE attempts a SET started_at = job."startedAt"
  FROM job WHERE a.job_id = job.id AND a.attempt = job.attempt
)
SELECT id AS "jobId", attempt FROM job`

/** Marks many assigned attempts running in one statement; the keys (`leaseKey`) of those it started. */
export async function startJobs(client: SQL, batch: readonly Starting[]): Promise<Set<string>> {
  // Ordered by job, so two batches lock the rows they share in the same order.
  const starts = [...batch]
    .sort((a, b) => (a.lease.jobId < b.lease.jobId ? -1 : a.lease.jobId > b.lease.jobId ? 1 : 0))
    .map((b) => ({
      jobId: b.lease.jobId,
      attempt: b.lease.attempt,
      workerId: b.workerId,
      now: b.now,
      startedAt: b.startedAt,
      grace: b.graceMs,
    }))
  // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
  const rows: { jobId: string; attempt: number }[] = await client.unsafe(START_MANY, [starts])
  return new Set(rows.map((r) => leaseKey({ jobId: r.jobId, attempt: Number(r.attempt) })))
}

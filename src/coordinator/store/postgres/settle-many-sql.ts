import type { SQL } from 'bun'
import type { LeaseRef } from '../../../protocol/worker'
import { escrowAccount, userAccount } from '../ledger-rules'
import type { Ending } from '../types'

// The ends and settlements of one or many attempts in one statement. The results
// of many workers settle into one worker owner's balance, whose row lock every result waits on:
// a batch takes it once, for one statement and one commit, instead of once per job.

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`
const USER = quote(userAccount(''))
const ESCROW = quote(escrowAccount(''))

/**
 * $1 the endings as a JSON array (see `endingRecord`), in job order. Per row, a compare-and-set
 * (each job locked by id in that order, one primary-key probe each: see assign-sql.ts), its
 * attempt row and settlement; the accounts every pay and release touches are locked in id order
 * before the pays are inserted, and each account's balance moves once by the sum of its pays and
 * releases (`Shift`s, no rows). Returns the attempts it ended.
 */
const FINISH_MANY = `
WITH e AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS e("jobId" text, attempt int, "workerId" text,
    state text, "exitCode" int, outcome text, error text, at bigint, "billedMs" bigint,
    measured boolean, "wallMs" bigint, "cpuMs" bigint, "peakMemoryBytes" bigint,
    kept boolean, sha256 text, bytes bigint, files bigint, cost bigint, receipt text, signature text)
), live AS MATERIALIZED (
  -- Its own step, driven by the endings in their (job) order: joined to workers, the locks
  -- followed whatever order the join read them in.
  SELECT e.* FROM e CROSS JOIN LATERAL (
    SELECT j.id FROM jobs j
    WHERE j.id = e."jobId" AND j.attempt = e.attempt AND j.worker_id = e."workerId"
      AND j.state IN ('assigned', 'running')
    FOR UPDATE
  ) c
), ep AS (
  SELECT live.*, w.owner_id AS payee FROM live LEFT JOIN workers w ON w.id = live."workerId"
), job AS (
  UPDATE jobs j SET state = ep.state, exit_code = ep."exitCode", outcome = ep.outcome, error = ep.error,
    finished_at = ep.at, billed_ms = ep."billedMs", deadline_at = NULL, lease_expires_at = NULL,
    wall_ms = CASE WHEN ep.measured THEN ep."wallMs" ELSE j.wall_ms END,
    cpu_ms = CASE WHEN ep.measured THEN ep."cpuMs" ELSE j.cpu_ms END,
    peak_memory_bytes = CASE WHEN ep.measured THEN ep."peakMemoryBytes" ELSE j.peak_memory_bytes END,
    outputs_sha256 = CASE WHEN ep.kept THEN ep.sha256 ELSE j.outputs_sha256 END,
    outputs_bytes = CASE WHEN ep.kept THEN ep.bytes ELSE j.outputs_bytes END,
    output_files = CASE WHEN ep.kept THEN ep.files ELSE j.output_files END,
    cost = CASE WHEN ep.payee IS NULL THEN 0 ELSE least(greatest(0, ep.cost), j.max_cost) END
  FROM ep
  WHERE j.id = ANY (ARRAY(SELECT "jobId" FROM ep)) AND j.id = ep."jobId"
  RETURNING j.id, j.attempt, j.owner_id, j.max_cost, j.cost, ep.payee, ep.at, ep.outcome, ep.error,
    ep.receipt, ep.signature
), ended AS (
  UPDATE attempts a SET ended_at = job.at, outcome = job.outcome, reason = job.error,
    receipt = job.receipt, signature = job.signature
  FROM job WHERE a.job_id = job.id AND a.attempt = job.attempt AND a.ended_at IS NULL
), who AS (
  SELECT job.owner_id AS user_id FROM job WHERE job.max_cost > 0
  UNION SELECT job.payee FROM job WHERE job.cost > 0
), locked AS MATERIALIZED (
  SELECT a.id FROM accounts a
  WHERE a.id = ANY (ARRAY(SELECT p.prefix || who.user_id FROM who, (VALUES (${USER}), (${ESCROW})) AS p(prefix)))
  ORDER BY a.id FOR UPDATE
), tr AS (
  INSERT INTO transfers (id, kind, from_account, to_account, amount, job_id, memo, created_at)
  SELECT 'pay:' || job.id || ':' || job.attempt, 'pay', ${ESCROW} || job.owner_id,
    ${USER} || job.payee, job.cost, job.id, NULL, job.at
  FROM job WHERE job.cost > 0 AND (SELECT count(*) FROM locked) >= 0
  ORDER BY job.id
  ON CONFLICT (id) DO NOTHING
  RETURNING from_account, to_account, amount
), moved AS (
  UPDATE accounts a SET balance = a.balance + d.delta
  FROM (
    SELECT acc, sum(delta) AS delta FROM (
      SELECT from_account AS acc, -amount AS delta FROM tr UNION ALL SELECT to_account, amount FROM tr
      UNION ALL SELECT r.acc, r.delta FROM job, LATERAL (VALUES
        (${ESCROW} || job.owner_id, job.cost - job.max_cost), (${USER} || job.owner_id, job.max_cost - job.cost)
      ) AS r(acc, delta)
      WHERE job.max_cost > job.cost AND (SELECT count(*) FROM locked) >= 0
    ) x GROUP BY acc
  ) d
  WHERE a.id = d.acc
)
SELECT job.id AS "jobId", job.attempt FROM job`

/** One result waiting to be settled. */
export interface Finishing {
  lease: LeaseRef
  workerId: string
  end: Ending
}

/** A result as a row of `FINISH_MANY`'s input. */
function endingRecord(f: Finishing): Record<string, unknown> {
  const { end } = f
  const u = end.usage
  const o = end.outputs
  return {
    jobId: f.lease.jobId,
    attempt: f.lease.attempt,
    workerId: f.workerId,
    state: end.state,
    exitCode: end.exitCode,
    outcome: end.outcome,
    error: end.error,
    at: end.at,
    billedMs: end.billedMs,
    measured: u !== undefined,
    wallMs: u ? Math.round(u.wallMs) : null,
    cpuMs: u && u.cpuMs !== null ? Math.round(u.cpuMs) : null,
    peakMemoryBytes: u ? u.peakMemoryBytes : null,
    kept: o !== undefined,
    sha256: o ? o.sha256 : null,
    bytes: o ? o.bytes : null,
    files: o ? o.files : null,
    cost: end.cost,
    receipt: end.receipt?.body ?? null,
    signature: end.receipt?.signature ?? null,
  }
}

/** `jobId:attempt`, how a batch's answers are matched to its results. */
export const leaseKey = (l: LeaseRef): string => `${l.jobId}:${l.attempt}`

/** Ends and settles many attempts in one statement; the keys (`leaseKey`) of those it ended. */
export async function finishJobs(client: SQL, batch: readonly Finishing[]): Promise<Set<string>> {
  // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
  // Ordered by job, so two batches lock the rows they share in the same order.
  const endings = batch.map(endingRecord).sort((a, b) => {
    const x = String(a['jobId'])
    const y = String(b['jobId'])
    return x < y ? -1 : x > y ? 1 : 0
  })
  const rows: { jobId: string; attempt: number }[] = await client.unsafe(FINISH_MANY, [endings])
  return new Set(rows.map((r) => leaseKey({ jobId: r.jobId, attempt: Number(r.attempt) })))
}

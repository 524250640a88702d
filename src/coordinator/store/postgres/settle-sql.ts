import type { SQL } from 'bun'
import type { LeaseRef } from '../../../protocol/worker'
import { escrowAccount, userAccount } from '../ledger-rules'
import type { Ending } from '../types'

// A result in one statement: the attempt's compare-and-set, its attempt row, and its settlement
// (`settlement` in ledger-rules.ts, spelled in SQL). Many workers' results settle into one
// worker owner's balance, so that row's lock is what every result waits on: held for this one
// statement and its commit, not for the dozen round trips of a transaction.

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`
const USER = quote(userAccount(''))
const ESCROW = quote(escrowAccount(''))

/**
 * $1 job, $2 attempt, $3 worker, $4 state, $5 exit code, $6 outcome, $7 error, $8 at, $9 billed
 * ms, $10 whether usage was measured, $11-$13 wall, CPU, peak memory, $14 whether outputs were
 * kept, $15-$17 their hash, bytes, files, $18 the cost, $19-$20 the receipt and its signature.
 *
 * The worker's owner is paid the cost capped at the escrow (nothing when no worker row names an
 * owner), the rest goes back to the submitter. The accounts of every user a live movement
 * touches are locked in id order before the transfers are inserted (their WHERE reads the
 * locks), so each transfer's `seq` is taken under them, as `lockAccounts` requires.
 */
const FINISH = `
WITH payee AS (
  SELECT owner_id FROM workers WHERE id = $3::text
), job AS (
  UPDATE jobs j SET state = $4::text, exit_code = $5::int, outcome = $6::text, error = $7::text,
    finished_at = $8::bigint, billed_ms = $9::bigint, deadline_at = NULL, lease_expires_at = NULL,
    wall_ms = CASE WHEN $10::boolean THEN $11::bigint ELSE j.wall_ms END,
    cpu_ms = CASE WHEN $10::boolean THEN $12::bigint ELSE j.cpu_ms END,
    peak_memory_bytes = CASE WHEN $10::boolean THEN $13::bigint ELSE j.peak_memory_bytes END,
    outputs_sha256 = CASE WHEN $14::boolean THEN $15::text ELSE j.outputs_sha256 END,
    outputs_bytes = CASE WHEN $14::boolean THEN $16::bigint ELSE j.outputs_bytes END,
    output_files = CASE WHEN $14::boolean THEN $17::bigint ELSE j.output_files END,
    cost = CASE WHEN (SELECT owner_id FROM payee) IS NULL THEN 0
      ELSE least(greatest(0, $18::bigint), j.max_cost) END
  WHERE j.id = $1::text AND j.attempt = $2::int AND j.worker_id = $3::text
    AND j.state IN ('assigned', 'running')
  RETURNING j.id, j.attempt, j.owner_id, j.max_cost, j.cost, (SELECT owner_id FROM payee) AS payee
), ended AS (
  UPDATE attempts SET ended_at = $8::bigint, outcome = $6::text, reason = $7::text,
    receipt = $19::text, signature = $20::text
  WHERE job_id = $1::text AND attempt = $2::int AND ended_at IS NULL AND EXISTS (SELECT 1 FROM job)
), mv AS (
  SELECT m.* FROM job, LATERAL (VALUES
    (1, 'pay:' || job.id || ':' || job.attempt, 'pay', ${ESCROW} || job.owner_id,
      ${USER} || coalesce(job.payee, job.owner_id), job.cost),
    (2, 'refund:' || job.id || ':' || job.attempt, 'refund', ${ESCROW} || job.owner_id,
      ${USER} || job.owner_id, job.max_cost - job.cost)
  ) AS m(n, id, kind, from_account, to_account, amount)
  WHERE m.amount > 0
), who AS (
  SELECT job.owner_id AS user_id FROM job WHERE job.max_cost > 0
  UNION SELECT job.payee FROM job WHERE job.cost > 0
), locked AS MATERIALIZED (
  SELECT a.id FROM accounts a
  WHERE a.id = ANY (ARRAY(SELECT p.prefix || who.user_id FROM who, (VALUES (${USER}), (${ESCROW})) AS p(prefix)))
  ORDER BY a.id FOR UPDATE
), tr AS (
  INSERT INTO transfers (id, kind, from_account, to_account, amount, job_id, memo, created_at)
  SELECT mv.id, mv.kind, mv.from_account, mv.to_account, mv.amount, $1::text, NULL, $8::bigint
  FROM mv WHERE (SELECT count(*) FROM locked) >= 0
  ORDER BY mv.n
  ON CONFLICT (id) DO NOTHING
  RETURNING from_account, to_account, amount
), moved AS (
  UPDATE accounts a SET balance = a.balance + d.delta
  FROM (
    SELECT acc, sum(delta) AS delta FROM (
      SELECT from_account AS acc, -amount AS delta FROM tr UNION ALL SELECT to_account, amount FROM tr
    ) x GROUP BY acc
  ) d
  WHERE a.id = d.acc
)
SELECT count(*)::int AS n FROM job`

/** Ends the attempt a worker holds and settles it, in one statement; false when stale or already ended. */
export async function finishJob(
  client: SQL,
  lease: LeaseRef,
  workerId: string,
  end: Ending,
): Promise<boolean> {
  const u = end.usage
  const o = end.outputs
  const rows: { n: number }[] = await client.unsafe(FINISH, [
    lease.jobId,
    lease.attempt,
    workerId,
    end.state,
    end.exitCode,
    end.outcome,
    end.error,
    end.at,
    end.billedMs,
    u !== undefined,
    u ? Math.round(u.wallMs) : null,
    u && u.cpuMs !== null ? Math.round(u.cpuMs) : null,
    u ? u.peakMemoryBytes : null,
    o !== undefined,
    o ? o.sha256 : null,
    o ? o.bytes : null,
    o ? o.files : null,
    end.cost,
    end.receipt?.body ?? null,
    end.receipt?.signature ?? null,
  ])
  return Number(rows[0]?.n) === 1
}

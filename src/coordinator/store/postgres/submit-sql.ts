import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import { sqlState } from '../../../db/postgres/errors'
import { hold, insufficientCredits } from '../ledger-rules'
import type { NewJob } from '../types'
import { CHECK_VIOLATION } from './db'
import { JOB_COLUMNS, jobParams, jobValues, toJobRow } from './job-row'

/*
 * A submission in one statement (one round trip, no BEGIN/COMMIT): lock the owner's two
 * accounts in id order (as every ledger step does, see `lockAccounts`), insert the job only if
 * the balance covers its maximum cost, and hold that in their escrow (a `Shift`: two balances
 * move, no transfer is written). $1 the owner's account, $2 their escrow, $3 the maximum cost;
 * the job's columns from $4.
 */
const CREATE = `
WITH locked AS MATERIALIZED (
  SELECT id, balance FROM accounts WHERE id IN ($1::text, $2::text) ORDER BY id FOR UPDATE
), funds AS MATERIALIZED (
  SELECT coalesce((SELECT balance FROM locked WHERE id = $1::text), 0) AS balance
), job AS (
  INSERT INTO jobs (${JOB_COLUMNS}) SELECT ${jobParams(4)}
  WHERE (SELECT balance FROM funds) >= $3::bigint
  RETURNING *
), moved AS (
  UPDATE accounts a SET balance = a.balance + CASE WHEN a.id = $1::text THEN -job.max_cost ELSE job.max_cost END
  FROM job WHERE a.id IN ($1::text, $2::text) AND job.max_cost > 0
)
SELECT (SELECT balance FROM funds) AS gridx_balance, job.* FROM (SELECT 1) one LEFT JOIN job ON true`

/** Queues a new job and escrows its maximum cost in one statement; 402 when its owner cannot afford it. */
export async function createJob(client: SQL, job: NewJob): Promise<JobRow> {
  const m = hold(job)
  let rows: Record<string, unknown>[]
  try {
    rows = await client.unsafe(CREATE, [m.from, m.to, job.maxCost, ...jobValues(job)])
  } catch (err) {
    // Cannot happen under the lock; kept so a balance the CHECK refuses still reads as a 402.
    if (sqlState(err) === CHECK_VIOLATION) throw insufficientCredits(job.maxCost, 0)
    throw err
  }
  const raw = rows[0]
  if (!raw || raw['id'] === null || raw['id'] === undefined) {
    throw insufficientCredits(job.maxCost, Number(raw?.['gridx_balance'] ?? 0))
  }
  return toJobRow(raw)
}

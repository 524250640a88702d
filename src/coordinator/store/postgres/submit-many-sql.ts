import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import { escrowAccount, escrowMovement, userAccount } from '../ledger-rules'
import type { NewJob } from '../types'
import { JOB_COLUMNS, jobParams, jobValues, toJobRow } from './job-row'

// Many submissions in one statement: `CREATE` of submit-sql.ts over a set of jobs. Clients of one
// user submitting at once all wait on that user's account rows: a batch locks them once.

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`
const USER = quote(userAccount(''))
const ESCROW = quote(escrowAccount(''))

/** Parameters per job: its place in the batch, its escrow transfer's id and time, then its columns. */
const PER_JOB = 3 + JOB_COLUMNS.split(', ').length

const texts = new Map<number, string>()

/**
 * The statement for `count` jobs (one text per batch size, so each is prepared once per
 * connection). Every owner's two accounts are locked in id order first; a job is inserted when
 * its owner's balance covers the maximum costs of their jobs up to it in the batch (so a batch
 * accepts what the same submissions one by one, in batch order, would, until one is refused);
 * each escrow transfer is written under the locks and each balance moves once by their sum.
 */
function createManyText(count: number): string {
  const cached = texts.get(count)
  if (cached) return cached
  const rows = Array.from({ length: count }, (_, i) => {
    const p = i * PER_JOB
    return `($${p + 1}::int, $${p + 2}::text, $${p + 3}::bigint, ${jobParams(p + 4)})`
  })
  const text = `
WITH v (gridx_n, gridx_transfer, gridx_at, ${JOB_COLUMNS}) AS (VALUES ${rows.join(', ')}
), locked AS MATERIALIZED (
  SELECT a.id, a.balance FROM accounts a
  WHERE a.id = ANY (ARRAY(SELECT p.prefix || v.owner_id FROM v, (VALUES (${USER}), (${ESCROW})) AS p(prefix)))
  ORDER BY a.id FOR UPDATE
), fit AS MATERIALIZED (
  SELECT v.*, coalesce(l.balance, 0) AS gridx_balance,
    sum(v.max_cost) OVER (PARTITION BY v.owner_id ORDER BY v.gridx_n) AS gridx_need
  FROM v LEFT JOIN locked l ON l.id = ${USER} || v.owner_id
), job AS (
  INSERT INTO jobs (${JOB_COLUMNS}) SELECT ${JOB_COLUMNS} FROM fit WHERE gridx_need <= gridx_balance
  ORDER BY gridx_n
  RETURNING *
), tr AS (
  INSERT INTO transfers (id, kind, from_account, to_account, amount, job_id, memo, created_at)
  SELECT fit.gridx_transfer, 'escrow', ${USER} || job.owner_id, ${ESCROW} || job.owner_id, job.max_cost,
    job.id, NULL, fit.gridx_at
  FROM job JOIN fit ON fit.id = job.id WHERE job.max_cost > 0
  ORDER BY fit.gridx_n
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
SELECT * FROM job`
  texts.set(count, text)
  return text
}

/** Queues many jobs in one statement: each one's row, or undefined where its owner's balance fell short. */
export async function createJobs(client: SQL, batch: readonly NewJob[]): Promise<(JobRow | undefined)[]> {
  const params = batch.flatMap((job, i) => {
    const m = escrowMovement(job, job.createdAt)
    return [i, m.id, m.at, ...jobValues(job)]
  })
  const rows: Record<string, unknown>[] = await client.unsafe(createManyText(batch.length), params)
  const made = new Map(rows.map((raw) => [String(raw['id']), toJobRow(raw)]))
  return batch.map((job) => made.get(job.id))
}

import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import { escrowAccount, userAccount } from '../ledger-rules'
import type { NewJob } from '../types'
import { JOB_COLUMNS, jobParams, jobValues, toJobRow } from './job-row'

// Many submissions in one statement: `CREATE` of submit-sql.ts over a set of jobs. Clients of one
// user submitting at once all wait on that user's account rows: a batch locks them once.

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`
const USER = quote(userAccount(''))
const ESCROW = quote(escrowAccount(''))

/** Parameters per job: its place in the batch, then its columns. */
const PER_JOB = 1 + JOB_COLUMNS.split(', ').length

const texts = new Map<number, string>()

/**
 * The statement for `count` jobs (one text per batch size, so each is prepared once per
 * connection). Every owner's two accounts are locked in id order first; a job is inserted when
 * its owner's balance covers the maximum costs of their jobs up to it in the batch (so a batch
 * accepts what the same submissions one by one, in batch order, would, until one is refused);
 * each owner's balance and escrow move once by the sum of their jobs' holds.
 */
function createManyText(count: number): string {
  const cached = texts.get(count)
  if (cached) return cached
  const rows = Array.from({ length: count }, (_, i) => {
    const p = i * PER_JOB
    return `($${p + 1}::int, ${jobParams(p + 2)})`
  })
  const text = `
WITH v (gridx_n, ${JOB_COLUMNS}) AS (VALUES ${rows.join(', ')}
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
), held AS (
  SELECT owner_id, sum(max_cost) AS amount FROM job WHERE max_cost > 0 GROUP BY owner_id
), moved AS (
  -- Keep it grouped (as in settle-many-sql.ts): PostgreSQL flattens a bare UNION ALL here, and its
  -- recheck of a row a concurrent statement had changed first (READ COMMITTED) matches the row
  -- against the wrong branch and skips it: 320 submissions from 8 connections lost a sixth of
  -- their escrow moves.
  UPDATE accounts a SET balance = a.balance + d.delta
  FROM (
    SELECT acc, sum(delta) AS delta FROM (
      SELECT ${USER} || owner_id AS acc, -amount AS delta FROM held
      UNION ALL SELECT ${ESCROW} || owner_id, amount FROM held
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
  const params = batch.flatMap((job, i) => [i, ...jobValues(job)])
  const rows: Record<string, unknown>[] = await client.unsafe(createManyText(batch.length), params)
  const made = new Map(rows.map((raw) => [String(raw['id']), toJobRow(raw)]))
  return batch.map((job) => made.get(job.id))
}

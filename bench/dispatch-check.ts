// Correctness under speed: after a dispatch run, through the database and the API, every job
// ended exactly once (succeeded, one signed attempt), was paid exactly once (its cost to its
// worker's owner; its hold and release write no row), every user's balance and escrow are what
// their transfers add up to, every escrow is back to 0, the ledger audit is exact (escrow equal
// to what live jobs may cost), and no job was assigned more often than its attempts explain. The
// bench fails on any of these.
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { SQL } from 'bun'
import type { BenchCoordinator } from './dispatch-grid'
import type { FleetReport } from './sim-fleet'

/** What the check counted, and what it found wrong (each line says what and how many). */
export interface CheckResult {
  jobs: number
  /** Jobs that needed more than one attempt (a requeue). */
  requeued: number
  /** Jobs whose settlement paid their worker's owner (the rest cost 0: they ran under 1 ms). */
  paid: number
  errors: string[]
}

/** Counts that must be 0, each with what it means. */
const MUST_BE_ZERO: [string, string][] = [
  ["jobs not in state 'succeeded'", `SELECT count(*) AS n FROM jobs WHERE state <> 'succeeded'`],
  [
    'jobs without exactly one signed attempt, the final one, exited',
    `WITH a AS (SELECT job_id, sum(CASE WHEN signature IS NOT NULL THEN 1 ELSE 0 END) AS signed FROM attempts GROUP BY job_id)
     SELECT count(*) AS n FROM jobs j LEFT JOIN a ON a.job_id = j.id
     WHERE coalesce(a.signed, 0) <> 1 OR NOT EXISTS (SELECT 1 FROM attempts f WHERE f.job_id = j.id
       AND f.attempt = j.attempt AND f.signature IS NOT NULL AND f.outcome = 'exited')`,
  ],
  [
    'jobs not paid exactly once (their cost, within their maximum; none when it is 0), or with escrow or refund transfers (a hold and its release write no row)',
    `WITH p AS (SELECT job_id,
       sum(CASE WHEN kind IN ('escrow', 'refund') THEN 1 ELSE 0 END) AS holds,
       sum(CASE WHEN kind = 'pay' THEN 1 ELSE 0 END) AS pays,
       sum(CASE WHEN kind = 'pay' THEN amount ELSE 0 END) AS paid
       FROM transfers WHERE job_id IS NOT NULL GROUP BY job_id)
     SELECT count(*) AS n FROM jobs j LEFT JOIN p ON p.job_id = j.id
     WHERE coalesce(p.holds, 0) <> 0 OR coalesce(p.paid, 0) <> coalesce(j.cost, 0) OR coalesce(j.cost, 0) > j.max_cost
       OR coalesce(p.pays, 0) <> CASE WHEN coalesce(j.cost, 0) > 0 THEN 1 ELSE 0 END`,
  ],
  [
    'users whose balance and escrow together are not what their transfers add up to',
    `WITH net AS (SELECT a.user_id, sum(x.delta) AS n FROM (
         SELECT to_account AS acc, amount AS delta FROM transfers UNION ALL SELECT from_account, -amount FROM transfers
       ) x JOIN accounts a ON a.id = x.acc WHERE a.kind <> 'mint' GROUP BY a.user_id),
     held AS (SELECT user_id, sum(balance) AS total FROM accounts WHERE kind <> 'mint' GROUP BY user_id)
     SELECT count(*) AS n FROM held h LEFT JOIN net ON net.user_id = h.user_id WHERE h.total <> coalesce(net.n, 0)`,
  ],
  [
    "pay transfers to someone other than the owner of the worker of the job's final attempt",
    `SELECT count(*) AS n FROM transfers t JOIN jobs j ON j.id = t.job_id
     JOIN attempts a ON a.job_id = j.id AND a.attempt = j.attempt JOIN workers w ON w.id = a.worker_id
     WHERE t.kind = 'pay' AND t.to_account <> 'user:' || w.owner_id`,
  ],
  [
    'escrow accounts not back to 0',
    `SELECT count(*) AS n FROM accounts WHERE kind = 'escrow' AND balance <> 0`,
  ],
]

const COUNTS = {
  jobs: 'SELECT count(*) AS n FROM jobs',
  requeued: 'SELECT count(*) AS n FROM jobs WHERE attempt > 1',
  paid: 'SELECT count(*) AS n FROM jobs WHERE cost > 0',
}
const ATTEMPTS = 'SELECT job_id AS id, count(*) AS n FROM attempts GROUP BY job_id HAVING count(*) > 1'

type Query = (sql: string) => Promise<Record<string, unknown>[]>

/** Runs `fn` with a query function on the grid's database (the SQLite file read-only, or PostgreSQL). */
async function withDatabase<T>(
  coord: BenchCoordinator,
  database: string | undefined,
  fn: (q: Query) => Promise<T>,
) {
  if (database) {
    const sql = new SQL(database, { max: 1 })
    try {
      return await fn(async (text): Promise<Record<string, unknown>[]> => await sql.unsafe(text))
    } finally {
      await sql.close()
    }
  }
  const db = new Database(join(coord.dir, 'gridx.db'), { readonly: true })
  try {
    return await fn((text) => Promise.resolve(db.query(text).all() as Record<string, unknown>[]))
  } finally {
    db.close()
  }
}

async function getJson(url: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`GET ${new URL(url).pathname}: HTTP ${res.status}: ${await res.text()}`)
  return (await res.json()) as Record<string, unknown>
}

/**
 * Checks a grid after its runs: `expectedJobs` submitted in all, `fleets` the simulated workers'
 * reports of those runs, `operator` an operator's token (the audit), `users` every account's token.
 */
export async function checkGrid(
  coords: BenchCoordinator[],
  database: string | undefined,
  expectedJobs: number,
  fleets: FleetReport[],
  operator: string,
  users: string[],
): Promise<CheckResult> {
  try {
    return await check(coords, database, expectedJobs, fleets, operator, users)
  } catch (err) {
    // A check that cannot run proves nothing: that fails the bench too, saying why.
    return { jobs: 0, requeued: 0, paid: 0, errors: [`correctness: the check could not run: ${String(err)}`] }
  }
}

async function check(
  coords: BenchCoordinator[],
  database: string | undefined,
  expectedJobs: number,
  fleets: FleetReport[],
  operator: string,
  users: string[],
): Promise<CheckResult> {
  const errors: string[] = []
  const { counts, attempts } = await withDatabase(coords[0]!, database, async (q) => {
    for (const [what, text] of MUST_BE_ZERO) {
      const n = Number((await q(text))[0]?.['n'])
      if (n !== 0) errors.push(`correctness: ${n} ${what}`)
    }
    const counts: Record<string, number> = {}
    for (const [k, text] of Object.entries(COUNTS)) counts[k] = Number((await q(text))[0]?.['n'])
    const attempts = new Map((await q(ATTEMPTS)).map((r) => [String(r['id']), Number(r['n'])]))
    return { counts, attempts }
  })
  if (counts['jobs'] !== expectedJobs)
    errors.push(`correctness: ${counts['jobs']} jobs stored, ${expectedJobs} submitted`)
  // A job is assigned once per attempt: a second job.assign of the same attempt, or more
  // assignments than the job has attempts, is a duplicate no requeue explains.
  const assigned = new Map<string, number>()
  const seen = new Set<string>()
  let sameAttempt = 0
  for (const f of fleets) {
    for (const [, id, attempt] of f.assigns) {
      const key = `${id}#${attempt}`
      if (seen.has(key)) sameAttempt++
      seen.add(key)
      assigned.set(id, (assigned.get(id) ?? 0) + 1)
    }
  }
  const beyond = [...assigned].filter(([id, n]) => n > (attempts.get(id) ?? 1)).length
  if (sameAttempt > 0)
    errors.push(`correctness: ${sameAttempt} job.assign messages repeated an attempt already assigned`)
  if (beyond > 0) errors.push(`correctness: ${beyond} jobs were assigned more often than they have attempts`)
  const http = coords.find((c) => c.proc.exitCode === null)!.http
  const audit = await getJson(`${http}/api/credits/audit`, operator)
  if (audit['ok'] !== true || audit['minted'] !== Number(audit['balances']) + Number(audit['escrow']))
    errors.push(`correctness: the ledger audit is not exact: ${JSON.stringify(audit)}`)
  let escrowed = 0
  for (const t of users) if (Number((await getJson(`${http}/api/credits`, t))['escrowMc']) !== 0) escrowed++
  if (escrowed > 0) errors.push(`correctness: ${escrowed} users' escrow is not 0 through the API`)
  return { jobs: counts['jobs'] ?? 0, requeued: counts['requeued'] ?? 0, paid: counts['paid'] ?? 0, errors }
}

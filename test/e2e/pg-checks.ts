import { expect } from 'bun:test'
import type { PgGrid } from './pg-lab'
import { until } from './pg-lab'

// What "every job ended exactly once" means, read from the grid's database, and the ledger's
// audit asked of a coordinator: shared by the failover tests.

/** Waits until no job of the grid is queued, assigned or running. */
export async function allEnded(g: PgGrid, ms: number): Promise<void> {
  await until(
    async () => {
      const rows: { n: number }[] =
        await g.sql`SELECT count(*)::int AS n FROM jobs WHERE state IN ('queued', 'assigned', 'running')`
      return rows[0]!.n === 0
    },
    'every job to end',
    ms,
  )
}

/**
 * Checks that all `n` jobs succeeded once: one attempt of each ran to its end, any other was
 * lost (never run to completion twice), each was paid once and no escrow is left; the audit
 * (asked as the operator `op`, through `via`) is exact. Returns the lost attempts, described.
 */
export async function endedOnce(
  g: PgGrid,
  n: number,
  op: Record<string, string>,
  via: string,
): Promise<string[]> {
  const jobs: { id: string; state: string }[] = await g.sql`SELECT id, state FROM jobs`
  expect(jobs).toHaveLength(n)
  expect(jobs.filter((j) => j.state !== 'succeeded')).toEqual([])
  const attempts: { job_id: string; attempt: number; outcome: string | null; reason: string | null }[] =
    await g.sql`SELECT job_id, attempt, outcome, reason FROM attempts ORDER BY job_id, attempt`
  const byJob = Map.groupBy(attempts, (a) => a.job_id)
  expect(byJob.size).toBe(n)
  const lost: string[] = []
  for (const [id, list] of byJob) {
    expect(list.filter((a) => a.outcome === 'exited').map((a) => [id, a.attempt])).toHaveLength(1)
    expect(list.at(-1)!.outcome).toBe('exited')
    for (const a of list.slice(0, -1)) {
      expect([id, a.outcome]).toEqual([id, 'lost'])
      lost.push(`${id} attempt ${a.attempt}: ${a.reason}`)
    }
  }
  const pays: { job_id: string; n: number }[] =
    await g.sql`SELECT job_id, count(*)::int AS n FROM transfers WHERE kind = 'pay' GROUP BY job_id`
  expect(pays).toHaveLength(n)
  expect(pays.filter((p) => p.n !== 1)).toEqual([])
  const escrow: { left: string }[] =
    await g.sql`SELECT coalesce(sum(balance), 0)::text AS left FROM accounts WHERE kind = 'escrow'`
  expect(escrow[0]!.left).toBe('0')
  const audit = await g.run('cl', ['credits', '--audit', '--json', '--coordinator', via], op)
  expect(audit.code).toBe(0)
  expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true, escrow: 0, negativeAccounts: 0 })
  return lost
}

/** Checks each job's stored output through `via`, ten `gridx logs` at a time. */
export async function logsWhole(
  g: PgGrid,
  expected: Map<string, string>,
  user: Record<string, string>,
  via: string,
): Promise<void> {
  const entries = [...expected]
  for (let start = 0; start < entries.length; start += 10) {
    const batch = entries.slice(start, start + 10)
    const logs = await Promise.all(batch.map(([id]) => g.run('cl', ['logs', id, '--coordinator', via], user)))
    logs.forEach((r, i) => {
      const [id, text] = batch[i]!
      expect([id, r.code, r.stdout]).toEqual([id, 0, text])
    })
  }
}

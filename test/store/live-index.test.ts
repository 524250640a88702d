import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, expect, test } from 'bun:test'
import type { Store } from '../../src/coordinator/store/types'
import { ok, newJob, seed } from '../support/store-fixtures'
import { openSqlite } from '../../src/coordinator/store/sqlite'
import { closeStore, ENGINES, whereIs } from '../support/stores'

// SQLite uses a partial index (jobs_live: live jobs only; jobs_deadline: those under lease) for a
// query only when its WHERE states the index's own predicate. These queries run once a second
// (the lease sweep), on every /health and metrics scrape, and on a worker's reconnect: each must
// read the live jobs, never the whole table with every job that ever ended. So must a user's
// storage quota, read on each upload. What they do is tested with the rest of the store
// (conformance.test.ts); this checks how SQLite runs them.

let store: Store
const sqlite = ENGINES.find((e) => e.name === 'sqlite')!

beforeEach(async () => {
  store = await seed(await sqlite.open())
})
afterEach(async () => {
  await closeStore(store)
})

/** The SQL of every statement prepared while `run` runs (drizzle prepares each query it runs). */
async function statementsOf(run: () => Promise<unknown>): Promise<string[]> {
  const seen = new Set<string>()
  type Prepare = (this: Database, ...a: unknown[]) => unknown
  const proto = Database.prototype as unknown as { prepare: Prepare; query: Prepare }
  const { prepare, query } = proto
  const seeing = (f: Prepare): Prepare =>
    function (this: Database, ...args: unknown[]) {
      seen.add(String(args[0]))
      return f.apply(this, args)
    }
  proto.prepare = seeing(prepare)
  proto.query = seeing(query)
  try {
    await run()
  } finally {
    Object.assign(proto, { prepare, query })
  }
  return [...seen]
}

test('the queries of live jobs read the jobs_live or jobs_deadline index, not the table', async () => {
  // Some ended jobs and some live ones, so each query has rows to find.
  for (let i = 0; i < 3; i++) {
    const done = await store.queue.create(newJob())
    await store.leases.assign(done.id, 'w-bob', 10 ** 12, 1000)
    await store.leases.finish({ jobId: done.id, attempt: 1 }, 'w-bob', ok(0, 2000))
  }
  const running = await store.queue.create(newJob())
  await store.leases.assign(running.id, 'w-bob', 10 ** 12, 1000)
  const queued = await store.queue.create(newJob())

  const sqls = await statementsOf(async () => {
    expect((await store.leases.expired(10 ** 13)).map((j) => j.id)).toEqual([running.id])
    expect(await store.leases.leasesOf('w-bob')).toEqual([{ jobId: running.id, attempt: 1 }])
    expect(await store.queue.counts()).toEqual({ queued: 1, assigned: 1 })
    expect((await store.queue.active()).map((j) => j.id)).toEqual([running.id])
    expect(await store.queue.position({ ...queued, ownerId: queued.ownerId })).toEqual({
      aheadOfMine: 0,
      queued: 1,
    })
    expect(await store.leases.extendLeases(10 ** 13, 2000)).toBe(1)
    expect((await store.queue.queued()).map((j) => j.id)).toEqual([queued.id])
    expect((await store.queue.list({ state: 'queued', limit: 10 })).map((j) => j.id)).toEqual([queued.id])
    expect((await store.queue.list({ states: ['queued', 'assigned'], limit: 10 })).map((j) => j.id)).toEqual([
      queued.id,
      running.id,
    ])
  })
  const onJobs = sqls.filter((s) => /\bfrom "jobs"|update "jobs"/i.test(s))
  expect(onJobs.length).toBeGreaterThanOrEqual(9)

  for (const sql of onJobs) {
    const plan = planOf(sql)
    expect({ sql, scans: plan.filter((d) => /^SCAN jobs\b/.test(d)) }).toEqual({ sql, scans: [] })
    expect({ sql, index: plan.some((d) => d.includes('INDEX jobs_')) }).toEqual({ sql, index: true })
  }
  // The lease sweep (each second) and a worker's reconnect read the jobs under lease, never the
  // queued ones: a backlog of 100,000 must not cost them anything.
  const leased = onJobs.filter((s) => /^select/i.test(s) && /lease_expires_at" <|"worker_id" = \?/.test(s))
  expect(leased.length).toBeGreaterThanOrEqual(2)
  for (const sql of leased)
    expect({ sql, plan: planOf(sql).join(' ') }).toEqual({
      sql,
      plan: expect.stringContaining('INDEX jobs_deadline'),
    })
})

/** The plan of `sql` on the store's file. */
function planOf(sql: string): string[] {
  const db = new Database(whereIs(store), { readonly: true })
  try {
    return db
      .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
      .all()
      .map((r) => r.detail)
  } finally {
    db.close()
  }
}

test("a user's storage quota reads their live jobs and their ended ones with outputs, not their whole history", async () => {
  const sqls = await statementsOf(() => store.files.keptArchives('u-alice', 0))
  const quota = sqls.filter((s) => s.includes('FROM uploads WHERE owner_id'))
  expect(quota).toHaveLength(1)
  const plan = planOf(quota[0]!)
  // jobs_owner holds every job the user ever had; SCAN reads every row of a table (named by its alias).
  expect(plan.filter((d) => /^SCAN (?!\(subquery)|jobs_owner/.test(d))).toEqual([])
  for (const index of ['uploads_owner', 'jobs_live', 'jobs_outputs']) {
    expect(plan.some((d) => d.includes(`INDEX ${index} (`))).toBe(true)
  }
})

test("a user's history reads two ranges of the ledger's indexes, at most a page of each, not every transfer", async () => {
  const job = await store.queue.create(newJob({ maxCost: 4000 }))
  await store.leases.assign(job.id, 'w-bob', 10 ** 12, 1000)
  await store.leases.finish({ jobId: job.id, attempt: 1 }, 'w-bob', ok(0, 2000))
  const sqls = await statementsOf(() => store.credits.of('u-alice', 10))
  const pages = sqls.filter((s) => /FROM transfers WHERE/i.test(s))
  expect(pages).toHaveLength(1)
  const plan = planOf(pages[0]!)
  expect(plan.filter((d) => /^SCAN transfers\b/.test(d))).toEqual([])
  for (const index of ['transfers_party', 'transfers_payee']) {
    expect(plan.some((d) => d.includes(`INDEX ${index} (<expr>=? AND seq<?)`))).toBe(true)
  }
})

test("the waiting jobs' statements read their indexes: a dependency's end costs a look, not a scan", async () => {
  const deps = [0, 1, 2].map(() => newJob())
  for (const d of deps) await store.queue.create(d)
  await store.workflows.create([newJob()], { ids: deps.map((d) => d.id), anyEnd: false })
  await store.leases.assign(deps[0]!.id, 'w-bob', 10 ** 12, 1000)
  await store.leases.finish({ jobId: deps[0]!.id, attempt: 1 }, 'w-bob', ok(0, 2000))
  // Opened again inside, so the statements it prepares once (at its start) are seen too.
  let again: Store | undefined
  const sqls = await statementsOf(async () => {
    again = openSqlite(whereIs(store))
    const w = again.workflows
    expect(await w.settleDependents([deps[0]!.id], 3000)).toEqual({ released: [], cancelled: [] })
    const held = await w.heldPage(undefined, 10)
    expect(held).toHaveLength(1)
    expect(await w.settleHeld([held[0]!.id], 3000)).toEqual({ released: [], cancelled: [] })
    expect(await w.endedWithDependents(undefined, 3000, 10)).toEqual([{ at: 2000, id: deps[0]!.id }])
  })
  await again?.close()
  const reads = sqls.filter((s) => /^\s*select/i.test(s) && /job_deps|has_dependents" = 1|held" = 1/.test(s))
  expect(reads.length).toBeGreaterThanOrEqual(5)
  for (const sql of reads) {
    const plan = planOf(sql)
    // json_each (the ids given) is read whole, as it should be; no table or index is.
    const scans = plan.filter((d) => /^SCAN /.test(d) && !d.includes('VIRTUAL TABLE'))
    expect({ sql, scans }).toEqual({ sql, scans: [] })
    expect({ sql, sorts: plan.filter((d) => d.includes('TEMP B-TREE')) }).toEqual({ sql, sorts: [] })
  }
})

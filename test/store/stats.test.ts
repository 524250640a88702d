import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Store } from '../../src/coordinator/store/types'
import { GRANT, NOTHING, newJob, ok, paid, seed, user } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// The dashboard's figures (store.stats), on both engines: what ended lately per minute and
// state, escrow, each worker's totals, workers seen lately, and the accounts with their balances.

let store: Store
const MIN = 60_000
const lease = (jobId: string) => ({ jobId, attempt: 1 })

/** Runs a new job of alice's on `worker` to `end` (escrowing `maxCost`). */
async function ran(worker: string, end: Parameters<Store['leases']['finish']>[2], maxCost = 2000) {
  const job = await store.queue.create(newJob({ maxCost }))
  await store.leases.assign(job.id, worker, 10 * MIN * 1000, 1000)
  expect(await store.leases.finish(lease(job.id), worker, end)).toBe(true)
  return job
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
    await store.workers.upsert('w-alice', 'u-alice', 'alices-box', 4, 'key-alice')
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('finishedSince counts ended jobs per bucket and state, from `since` on', async () => {
    expect(await store.stats.finishedSince(0, MIN)).toEqual([])
    await ran('w-bob', ok(0, 10 * MIN + 5))
    await ran('w-bob', ok(0, 10 * MIN + 59_999))
    await ran('w-bob', ok(1, 10 * MIN + 7))
    await ran('w-alice', ok(0, 12 * MIN))
    await ran('w-alice', ok(0, 9 * MIN)) // before `since`
    const queued = await store.queue.create(newJob())
    await store.leases.cancel(queued.id, 11 * MIN, () => NOTHING)
    // A live job is not counted.
    await store.queue.create(newJob())
    expect(await store.stats.finishedSince(10 * MIN, MIN)).toEqual([
      { at: 10 * MIN, state: 'failed', n: 1 },
      { at: 10 * MIN, state: 'succeeded', n: 2 },
      { at: 11 * MIN, state: 'cancelled', n: 1 },
      { at: 12 * MIN, state: 'succeeded', n: 1 },
    ])
    expect(await store.stats.finishedSince(12 * MIN + 1, MIN)).toEqual([])
  })

  test('escrowTotal sums every account held in escrow', async () => {
    expect(await store.stats.escrowTotal()).toBe(0)
    await store.queue.create(newJob({ maxCost: 1200 }))
    await store.queue.create(newJob({ ownerId: 'u-bob', maxCost: 300 }))
    expect(await store.stats.escrowTotal()).toBe(1500)
    await ran('w-bob', paid(100), 400)
    expect(await store.stats.escrowTotal()).toBe(1500)
  })

  test('workerTotals: jobs ended on each worker and what they paid its owner', async () => {
    expect(await store.stats.workerTotals()).toEqual(new Map())
    await ran('w-bob', paid(700))
    await ran('w-bob', paid(50))
    await ran('w-alice', ok(1))
    // Assigned but not ended: not counted yet.
    const live = await store.queue.create(newJob())
    await store.leases.assign(live.id, 'w-bob', 10 * MIN * 1000, 1000)
    expect(await store.stats.workerTotals()).toEqual(
      new Map([
        ['w-bob', { jobs: 2, earnedMc: 750 }],
        ['w-alice', { jobs: 1, earnedMc: 0 }],
      ]),
    )
  })

  test('workersSeen: workers seen since a time, newest first, with their owner', async () => {
    await store.workers.upsert('w-bob', 'u-bob', 'bobs-box', 50, 'key-bob')
    expect(await store.stats.workersSeen(4)).toEqual([
      {
        id: 'w-bob',
        ownerId: 'u-bob',
        owner: 'bob',
        name: 'bobs-box',
        publicKey: 'key-bob',
        firstSeenAt: 3,
        lastSeenAt: 50,
      },
      {
        id: 'w-alice',
        ownerId: 'u-alice',
        owner: 'alice',
        name: 'alices-box',
        publicKey: 'key-alice',
        firstSeenAt: 4,
        lastSeenAt: 4,
      },
    ])
    expect((await store.stats.workersSeen(5)).map((w) => w.id)).toEqual(['w-bob'])
  })

  test('users: the newest accounts first, with balance, escrow and job count, and how many there are', async () => {
    await store.accounts.create(user('u-carol', 'carol', 3), { signup: 'open', grant: 0 })
    await store.queue.create(newJob({ maxCost: 1000 }))
    await store.queue.create(newJob({ maxCost: 500 }))
    await ran('w-bob', paid(200), 300)
    const all = await store.stats.users(500)
    expect(all.total).toBe(3)
    expect(all.users).toEqual([
      { id: 'u-carol', name: 'carol', isAdmin: false, createdAt: 3, balance: 0, escrow: 0, jobs: 0 },
      { id: 'u-bob', name: 'bob', isAdmin: false, createdAt: 2, balance: GRANT + 200, escrow: 0, jobs: 0 },
      {
        id: 'u-alice',
        name: 'alice',
        isAdmin: true,
        createdAt: 1,
        balance: GRANT - 1500 - 200,
        escrow: 1500,
        jobs: 3,
      },
    ])
    const two = await store.stats.users(2)
    expect(two.total).toBe(3)
    expect(two.users.map((u) => u.name)).toEqual(['carol', 'bob'])
  })

  test('the overview reads ended jobs from the index, not the table', async () => {
    if (store.engine !== 'sqlite') return
    const { Database } = await import('bun:sqlite')
    const { whereIs } = await import('../support/stores')
    const db = new Database(whereIs(store), { readonly: true })
    try {
      const plan = db
        .query<{ detail: string }, [number, number]>(
          'EXPLAIN QUERY PLAN SELECT (finished_at / ?2) * ?2 AS at, state, count(*) AS n FROM jobs WHERE finished_at >= ?1 GROUP BY 1, 2',
        )
        .all(0, MIN)
        .map((r) => r.detail)
        .join('\n')
      expect(plan).toContain('COVERING INDEX jobs_finished')
      const totals = db
        .query<{ detail: string }, []>(
          'EXPLAIN QUERY PLAN SELECT worker_id, count(*), sum(cost) FROM jobs WHERE finished_at IS NOT NULL AND worker_id IS NOT NULL GROUP BY worker_id',
        )
        .all()
        .map((r) => r.detail)
        .join('\n')
      expect(totals).toContain('COVERING INDEX jobs_worker_done')
    } finally {
      db.close()
    }
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { JobRow, Store } from '../../src/coordinator/store/types'
import { GRANT, newJob, ok, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// The queue as an in-memory queue index loads it (QueueRepo.queued), on both engines.

let store: Store

const withoutScript = (j: JobRow) => {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the field under test is the one left out
  const { script, ...rest } = j
  return rest
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('queued: every queued job, by owner, priority highest first, age, then id byte-wise; no scripts', async () => {
    const made: JobRow[] = []
    const add = async (id: string, ownerId: string, priority: number, createdAt: number) =>
      made.push(await store.queue.create(newJob({ id, ownerId, priority, createdAt })))
    // Ids that sort differently byte-wise than in a natural-language collation ('-' ignored, case folded).
    await add('b', 'u-bob', 0, 10)
    await add('B', 'u-bob', 0, 10)
    await add('ab', 'u-bob', 0, 10)
    await add('a-c', 'u-bob', 0, 10)
    await add('late-high', 'u-bob', 5, 99)
    await add('old', 'u-bob', 0, 1)
    await add('alice-2', 'u-alice', 0, 20)
    await add('alice-1', 'u-alice', 0, 10)
    await add('running', 'u-alice', 9, 1)
    await add('done', 'u-alice', 9, 1)
    await store.leases.assign('running', 'w-bob', 99_000, 2)
    await store.leases.assign('done', 'w-bob', 99_000, 2)
    await store.leases.finish({ jobId: 'done', attempt: 1 }, 'w-bob', ok())

    const all = await store.queue.queued()
    expect(all.map((j) => j.id)).toEqual(['alice-1', 'alice-2', 'late-high', 'old', 'B', 'a-c', 'ab', 'b'])
    // Whole rows, as job() reads them, without the script.
    for (const j of all) {
      expect('script' in j).toBe(false)
      expect(j).toEqual(withoutScript((await store.queue.job(j.id))!))
    }
    expect(all.find((j) => j.id === 'old')).toEqual(withoutScript(made.find((j) => j.id === 'old')!))
  })

  test('queued(ids): only those still queued, in the same order; unknown ids and [] give nothing', async () => {
    for (const [id, createdAt] of [
      ['q1', 3],
      ['q2', 2],
      ['q3', 1],
      ['gone', 0],
    ] as const) {
      await store.queue.create(newJob({ id, createdAt }))
    }
    await store.leases.assign('gone', 'w-bob', 99_000, 2)
    expect((await store.queue.queued(['q1', 'gone', 'nope', 'q3'])).map((j) => j.id)).toEqual(['q3', 'q1'])
    expect(await store.queue.queued([])).toEqual([])
    // Many ids in one call (more than SQLite binds as parameters of one statement).
    const many = [...Array.from({ length: 40_000 }, (_, i) => `x${i}`), 'q2']
    expect((await store.queue.queued(many)).map((j) => j.id)).toEqual(['q2'])
  })

  test('one-statement steps read back whole: create and assign return what job() reads', async () => {
    const created = await store.queue.create(
      newJob({ id: 'whole', maxCost: 300, requirements: ['numpy==2.0'], requiresPython: '>=3.11' }),
    )
    expect(created).toEqual((await store.queue.job('whole'))!)
    expect(created).toMatchObject({ state: 'queued', attempt: 0, priority: 0, requirements: ['numpy==2.0'] })
    const assigned = await store.leases.assign('whole', 'w-bob', 99_000, 50, 1000)
    expect(assigned).toEqual(await store.queue.job('whole'))
    expect(assigned).toMatchObject({
      state: 'assigned',
      attempt: 1,
      workerId: 'w-bob',
      deadlineAt: 50 + 60_000 + 1000,
    })
    expect(await store.leases.assign('whole', 'w-bob', 99_000, 50)).toBeUndefined()
    expect(await store.leases.attemptsOf('whole')).toMatchObject([
      { attempt: 1, workerId: 'w-bob', assignedAt: 50 },
    ])
  })

  test('finish: usage and outputs kept, cost capped at the escrow; no worker row pays nobody and refunds all', async () => {
    const lease = { jobId: 'capped', attempt: 1 }
    await store.queue.create(newJob({ id: 'capped', maxCost: 400 }))
    await store.leases.assign('capped', 'w-bob', 99_000, 2)
    expect(await store.leases.markRunning(lease, 'w-bob', 10, 500, 8)).toBe(true)
    expect(await store.leases.markRunning(lease, 'w-bob', 10)).toBe(false)
    const end = {
      ...ok(0, 7000),
      cost: 999,
      billedMs: 1000,
      usage: { wallMs: 12.6, cpuMs: null, peakMemoryBytes: 1234 },
      outputs: { sha256: 'ab'.repeat(32), bytes: 10, files: 2 },
    }
    expect(await store.leases.finish(lease, 'w-bob', end)).toBe(true)
    expect(await store.queue.job('capped')).toMatchObject({
      state: 'succeeded',
      cost: 400,
      startedAt: 8,
      wallMs: 13,
      cpuMs: null,
      peakMemoryBytes: 1234,
      outputsSha256: 'ab'.repeat(32),
      outputFiles: 2,
      leaseExpiresAt: null,
      deadlineAt: null,
    })
    expect(await store.leases.attemptsOf('capped')).toMatchObject([
      { startedAt: 8, endedAt: 7000, outcome: 'exited' },
    ])
    expect((await store.credits.of('u-bob', 1)).balance).toBe(GRANT + 400)

    await store.queue.create(newJob({ id: 'ghost', maxCost: 300 }))
    await store.leases.assign('ghost', 'w-nobody', 99_000, 2)
    expect(
      await store.leases.finish({ jobId: 'ghost', attempt: 1 }, 'w-nobody', { ...end, usage: undefined }),
    ).toBe(true)
    expect(await store.queue.job('ghost')).toMatchObject({ cost: 0, wallMs: null })
    expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT - 400, escrow: 0 })
    expect(await store.credits.audit()).toMatchObject({ ok: true, escrow: 0 })
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { NewJob, Store } from '../../src/coordinator/store/types'
import { newJob, ok, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// A job's name, labels and environment on both engines: stored as given, read back by every
// read, and listed by states, a name glob, labels (AND-ed) and an id prefix (QueueRepo.list).

let store: Store

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('name, labels and env are stored and read back (job, list, queued, claim)', async () => {
    const env = { SEED: '7', MESSAGE: 'héllo = "world"\n' }
    await store.queue.create(
      newJob({ id: 'm1', name: 'sweep-1', labels: { exp: '3', 'team/owner': 'ana' }, env, createdAt: 100 }),
    )
    await store.queue.create(newJob({ id: 'm2', createdAt: 200 }))
    expect(await store.queue.job('m1')).toMatchObject({ name: 'sweep-1', labels: { exp: '3' }, env })
    expect(await store.queue.job('m2')).toMatchObject({ name: null, labels: {}, env: {} })
    const listed = await store.queue.list({ ownerId: 'u-alice', limit: 10 })
    expect(listed.find((j) => j.id === 'm1')).toMatchObject({ name: 'sweep-1', env })
    expect((await store.queue.queued(['m1']))[0]).toMatchObject({ labels: { 'team/owner': 'ana' }, env })
    const claimed = await store.leases.assign('m1', 'w-bob', 50_000, 2000)
    expect(claimed).toMatchObject({ env })
  })

  test('filters: several states, a name glob, labels AND-ed, an id prefix', async () => {
    const jobs: Partial<NewJob>[] = [
      { id: 'pfx1aa', name: 'sweep-a', labels: { exp: '3', lr: '0.1' }, createdAt: 100 },
      { id: 'pfx1ab', name: 'Sweep-B', labels: { exp: '3', lr: '0.2' }, createdAt: 200 },
      { id: 'pfx2aa', name: 'plot', labels: { exp: '4' }, createdAt: 300 },
      { id: 'qqq1aa', name: null, labels: {}, createdAt: 400 },
    ]
    for (const j of jobs) await store.queue.create(newJob(j))
    await store.queue.create(newJob({ id: 'pfx1zz', ownerId: 'u-bob', name: 'sweep-z', createdAt: 500 }))
    await store.leases.assign('pfx1aa', 'w-bob', 50_000, 2000)
    expect(await store.leases.finish({ jobId: 'pfx1aa', attempt: 1 }, 'w-bob', ok(0))).toBe(true)
    const ids = async (q: Parameters<Store['queue']['list']>[0]) =>
      (await store.queue.list({ ownerId: 'u-alice', ...q })).map((j) => j.id)
    expect(await ids({ limit: 10, name: 'sweep*' })).toEqual(['pfx1ab', 'pfx1aa'])
    expect(await ids({ limit: 10, name: 'sweep-?' })).toEqual(['pfx1ab', 'pfx1aa'])
    expect(await ids({ limit: 10, name: 'swe' })).toEqual([])
    // `_` and `%` in a glob are literal.
    expect(await ids({ limit: 10, name: 'sweep_a' })).toEqual([])
    expect(await ids({ limit: 10, name: '%' })).toEqual([])
    expect(await ids({ limit: 10, labels: { exp: '3' } })).toEqual(['pfx1ab', 'pfx1aa'])
    expect(await ids({ limit: 10, labels: { exp: '3', lr: '0.2' } })).toEqual(['pfx1ab'])
    expect(await ids({ limit: 10, labels: { exp: '3', lr: '0.3' } })).toEqual([])
    expect(await ids({ limit: 10, labels: { nope: '3' } })).toEqual([])
    expect(await ids({ limit: 10, states: ['queued', 'running'] })).toEqual(['qqq1aa', 'pfx2aa', 'pfx1ab'])
    expect(await ids({ limit: 10, states: ['succeeded'], name: 'sweep*' })).toEqual(['pfx1aa'])
    expect(await ids({ limit: 10, idPrefix: 'pfx1' })).toEqual(['pfx1ab', 'pfx1aa'])
    expect(await ids({ limit: 10, idPrefix: 'pfx2' })).toEqual(['pfx2aa'])
    // Another owner's job is never listed, whatever matches.
    expect(await ids({ limit: 10, idPrefix: 'pfx1z' })).toEqual([])
    // The dashboard's search finds names too.
    expect(await ids({ limit: 10, search: 'plo' })).toEqual(['pfx2aa'])
  })
})

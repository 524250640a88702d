import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Store } from '../../src/coordinator/store/types'
import { newJob, ok, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// The dashboard's job listing (QueueRepo.list) on both engines: owner, state, search, paging.

let store: Store

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('lists newest first without scripts, one owner or everyone, by state', async () => {
    const a1 = await store.queue.create(newJob({ id: 'kaaa1', createdAt: 100 }))
    const b1 = await store.queue.create(newJob({ id: 'kbbb1', ownerId: 'u-bob', createdAt: 200 }))
    const a2 = await store.queue.create(newJob({ id: 'kaaa2', createdAt: 300 }))
    await store.leases.assign(a1.id, 'w-bob', 50_000, 2000)
    expect(await store.leases.finish({ jobId: a1.id, attempt: 1 }, 'w-bob', ok(0))).toBe(true)
    const mine = await store.queue.list({ ownerId: 'u-alice', limit: 10 })
    expect(mine.map((j) => j.id)).toEqual([a2.id, a1.id])
    expect('script' in mine[0]!).toBe(false)
    expect(mine[0]).toMatchObject({ id: a2.id, ownerName: 'alice', scriptName: 'job.py', args: ['--n', '3'] })
    expect((await store.queue.list({ limit: 10 })).map((j) => j.id)).toEqual([a2.id, b1.id, a1.id])
    expect(
      (await store.queue.list({ ownerId: 'u-alice', state: 'succeeded', limit: 10 })).map((j) => j.id),
    ).toEqual([a1.id])
    expect((await store.queue.list({ state: 'queued', limit: 10 })).map((j) => j.id)).toEqual([a2.id, b1.id])
    expect(await store.queue.list({ ownerId: 'u-nobody', limit: 10 })).toEqual([])
  })

  test('search: an id prefix or part of the script name, any case, wildcards taken literally', async () => {
    await store.queue.create(newJob({ id: 'qx2abc', scriptName: 'train_model.py', createdAt: 100 }))
    await store.queue.create(newJob({ id: 'qy3def', scriptName: 'Plot.py', createdAt: 200 }))
    await store.queue.create(newJob({ id: 'qz4ghi', scriptName: 'trainXmodel.py', createdAt: 300 }))
    const ids = async (search: string) =>
      (await store.queue.list({ ownerId: 'u-alice', search, limit: 10 })).map((j) => j.id)
    expect(await ids('qx2')).toEqual(['qx2abc'])
    expect(await ids('QY')).toEqual(['qy3def'])
    expect(await ids('plot')).toEqual(['qy3def'])
    // `_` is a LIKE wildcard: here it must match only an underscore.
    expect(await ids('train_')).toEqual(['qx2abc'])
    expect(await ids('%')).toEqual([])
    // An id in the middle is no prefix.
    expect(await ids('abc')).toEqual([])
    expect(await ids('  ')).toEqual(['qz4ghi', 'qy3def', 'qx2abc'])
  })

  test('pages: `before` continues after the last job of a page, ties on time broken by id', async () => {
    for (const [id, at] of [
      ['p1', 100],
      ['p2', 200],
      ['p3', 200],
      ['p4', 300],
    ] as const)
      await store.queue.create(newJob({ id, createdAt: at }))
    const first = await store.queue.list({ ownerId: 'u-alice', limit: 2 })
    expect(first.map((j) => j.id)).toEqual(['p4', 'p3'])
    const last = first.at(-1)!
    const second = await store.queue.list({
      ownerId: 'u-alice',
      limit: 2,
      before: { createdAt: last.createdAt, id: last.id },
    })
    expect(second.map((j) => j.id)).toEqual(['p2', 'p1'])
    expect(
      await store.queue.list({ ownerId: 'u-alice', limit: 2, before: { createdAt: 100, id: 'p1' } }),
    ).toEqual([])
  })
})

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { newJob, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// A scheduling pass stores its assignments together (`assignMany`; on PostgreSQL one statement
// for the whole pass): what it must do on both engines, and under racing coordinators.

let store: Store

describe.each(ENGINES)('$name: assignMany', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
    await store.workers.upsert('w-2', 'u-bob', 'box-2', 3, 'key-2')
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('assigns every queued pick to its own worker, lease and attempt; skips one no longer queued', async () => {
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push((await store.queue.create(newJob())).id)
    // Already taken: the pass must not assign it again.
    expect(await store.leases.assign(ids[3]!, 'w-2', 5_000, 1_000)).toBeDefined()
    const rows = await store.leases.assignMany(
      ids.map((jobId, i) => ({ jobId, workerId: i % 2 === 0 ? 'w-bob' : 'w-2', leaseExpiresAt: 9_000 + i })),
      2_000,
      500,
    )
    expect([...rows.keys()].sort()).toEqual(ids.slice(0, 3).sort())
    for (const [i, id] of ids.slice(0, 3).entries()) {
      const row = rows.get(id)!
      expect(row).toMatchObject({
        id,
        state: 'assigned',
        workerId: i % 2 === 0 ? 'w-bob' : 'w-2',
        leaseExpiresAt: 9_000 + i,
        attempt: 1,
        deadlineAt: 2_000 + 60_000 + 500,
      })
      // The row a worker is sent carries the script.
      expect(row.script?.toString()).toBe('print("hi")\n')
      expect(await store.queue.job(id)).toMatchObject({ state: 'assigned', workerId: row.workerId })
      const attempts = await store.leases.attemptsOf(id)
      expect(attempts).toHaveLength(1)
      expect(attempts[0]).toMatchObject({ attempt: 1, workerId: row.workerId, assignedAt: 2_000 })
    }
    // The one taken before keeps its first assignment.
    expect(await store.queue.job(ids[3]!)).toMatchObject({
      attempt: 1,
      workerId: 'w-2',
      leaseExpiresAt: 5_000,
    })
    expect(await store.leases.assignMany([], 3_000, 500)).toEqual(new Map())
  })
})

describe('postgres: assignMany from three coordinators at once', () => {
  let coordinators: Store[]
  beforeAll(async () => {
    const url = await freshDatabase()
    coordinators = [await seed(await openPostgres(url)), await openPostgres(url), await openPostgres(url)]
    for (const [i, s] of coordinators.entries())
      await s.workers.upsert(`w-${i}`, 'u-bob', `box-${i}`, 4, `key-${i}`)
  })
  afterAll(async () => {
    for (const s of coordinators) await s.close()
  })

  test('passes over the same jobs assign each exactly once, with one attempt row on the winner', async () => {
    for (let round = 0; round < 5; round++) {
      const ids: string[] = []
      for (let i = 0; i < 24; i++) ids.push((await coordinators[i % 3]!.queue.create(newJob())).id)
      // Each coordinator tries every job, in its own order (as announced jobs are stolen).
      const results = await Promise.all(
        coordinators.map(async (c, k) => {
          const mine = [...ids.slice(k * 8), ...ids.slice(0, k * 8)]
          const halves = [mine.slice(0, 12), mine.slice(12)]
          const out = await Promise.all(
            halves.map((h) =>
              c.leases.assignMany(
                h.map((jobId) => ({ jobId, workerId: `w-${k}`, leaseExpiresAt: Date.now() + 60_000 })),
                Date.now(),
                1_000,
              ),
            ),
          )
          return out.flatMap((m) => [...m.values()])
        }),
      )
      const won = results.flat()
      expect(won.map((r) => r.id).sort()).toEqual([...ids].sort())
      for (const row of won) {
        const attempts = await coordinators[0]!.leases.attemptsOf(row.id)
        expect(attempts.map((a) => `${a.attempt}@${a.workerId}`)).toEqual([`1@${row.workerId}`])
        expect(await coordinators[1]!.queue.job(row.id)).toMatchObject({
          state: 'assigned',
          workerId: row.workerId,
        })
      }
    }
  })
})

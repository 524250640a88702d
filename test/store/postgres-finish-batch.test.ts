import { afterAll, beforeAll, expect, test } from 'bun:test'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { GRANT, newJob, paid, seed } from '../support/store-fixtures'

// Results that arrive together are settled in one statement on PostgreSQL (lease-batch.ts):
// each must still get its own answer, be paid once, and leave the ledger exact.

let store: Store

beforeAll(async () => {
  store = await seed(await openPostgres(await freshDatabase()))
})
afterAll(async () => {
  await store.close()
})

test('results settled together: each answered alone, paid once, capped at its escrow, the audit exact', async () => {
  const maxCost = 100
  const jobs = await Promise.all(Array.from({ length: 12 }, () => store.queue.create(newJob({ maxCost }))))
  for (const j of jobs) expect(await store.leases.assign(j.id, 'w-bob', Date.now() + 60_000)).toBeDefined()
  const lease = (i: number) => ({ jobId: jobs[i]!.id, attempt: 1 })
  // All in one turn of the event loop, so they go out as one batch (and its successors).
  const answers = await Promise.all([
    ...jobs.slice(0, 10).map((_, i) => store.leases.finish(lease(i), 'w-bob', paid(60))),
    store.leases.finish(lease(10), 'w-bob', paid(500)), // more than its escrow: capped
    store.leases.finish(lease(0), 'w-bob', paid(60)), // the same result again: already ended
    store.leases.finish({ jobId: jobs[11]!.id, attempt: 2 }, 'w-bob', paid(60)), // not this attempt
    store.leases.finish(lease(11), 'w-other', paid(60)), // not this worker's
  ])
  const expected: boolean[] = [...Array<boolean>(11).fill(true), false, false, false]
  expect(answers as boolean[]).toEqual(expected)
  const ended = await Promise.all(jobs.map((j) => store.queue.job(j.id)))
  expect(ended.map((j) => String(j?.state))).toEqual([...Array<string>(11).fill('succeeded'), 'assigned'])
  expect(ended.map((j) => j?.cost)).toEqual([...Array<number>(10).fill(60), 100, null])
  const attempts = await store.leases.attemptsOf(jobs[3]!.id)
  expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'exited' })
  expect(attempts[0]?.endedAt).toBe(5000)
  const earned = 10 * 60 + 100
  expect(await store.credits.of('u-bob', 1)).toMatchObject({ balance: GRANT + earned, escrow: 0 })
  // The job still held keeps its escrow; the rest came back.
  expect(await store.credits.of('u-alice', 1)).toMatchObject({
    balance: GRANT - earned - maxCost,
    escrow: maxCost,
  })
  expect(await store.credits.audit()).toMatchObject({ ok: true, negativeAccounts: 0 })
  // The one still held ends later, alone, as before.
  expect(await store.leases.finish(lease(11), 'w-bob', paid(10))).toBe(true)
  expect(await store.credits.of('u-alice', 1)).toMatchObject({ balance: GRANT - earned - 10, escrow: 0 })
})

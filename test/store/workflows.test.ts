import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Store } from '../../src/coordinator/store/types'
import { GRANT, newJob, NOTHING, ok, rejection, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// Arrays and dependencies (WorkflowsRepo), on both engines: one transaction per array with its
// escrow, held jobs out of the queue, release, and the cascade that cancels and refunds.

let store: Store
const balance = async (user = 'u-alice') => (await store.credits.of(user, 1)).balance
const escrowOf = async (user = 'u-alice') => (await store.credits.of(user, 1)).escrow

/** Runs a job to the end through its lease (assigned, running, finished as `end`). */
async function runToEnd(id: string, end = ok(0)): Promise<void> {
  const row = await store.leases.assign(id, 'w-bob', 99_000, 2000)
  expect(row).toBeDefined()
  expect(await store.leases.markRunning({ jobId: id, attempt: 1 }, 'w-bob', 2500)).toBe(true)
  expect(await store.leases.finish({ jobId: id, attempt: 1 }, 'w-bob', end)).toBe(true)
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  test('an array is made whole in one transaction, escrowing every member', async () => {
    const jobs = [0, 1, 2].map((i) =>
      newJob({ maxCost: 100, arrayId: 'arr0000000001', arrayIndex: i, arrayCap: 2 }),
    )
    const rows = await store.workflows.create(jobs)
    expect(rows.map((r) => [r.arrayIndex, r.arrayCap, r.held])).toEqual([
      [0, 2, false],
      [1, 2, false],
      [2, 2, false],
    ])
    expect(await balance()).toBe(GRANT - 300)
    expect(await escrowOf()).toBe(300)
    const members = await store.workflows.members('arr0000000001')
    expect(members.map((m) => m.arrayIndex)).toEqual([0, 1, 2])
    expect('script' in members[0]!).toBe(false)
    expect((await store.queue.queued()).filter((j) => j.arrayId === 'arr0000000001')).toHaveLength(3)
    expect(await store.workflows.members('nosucharray00')).toEqual([])
    await store.leases.assign(rows[0]!.id, 'w-bob', 99_000, 2000)
    expect(await store.queue.active()).toEqual([
      { id: rows[0]!.id, ownerId: 'u-alice', arrayId: 'arr0000000001' },
    ])
  })

  test('an array its owner cannot afford as a whole is refused with the figures, and nothing is written', async () => {
    const jobs = [0, 1, 2, 3].map((i) => newJob({ maxCost: 3000, arrayId: 'arr0000000002', arrayIndex: i }))
    const err = (await rejection(store.workflows.create(jobs))) as { status: number; message: string }
    expect(err.status).toBe(402)
    expect(err.message).toContain('the array of 4 jobs may cost up to 12 credits; you have 10')
    expect(await store.workflows.members('arr0000000002')).toEqual([])
    expect(await balance()).toBe(GRANT)
    expect(await escrowOf()).toBe(0)
  })

  test('a job --after another is held out of the queue until it succeeds, then released', async () => {
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob({ maxCost: 50 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    expect(child!.held).toBe(true)
    expect((await store.queue.queued()).map((j) => j.id)).toEqual([parent.id])
    expect((await store.queue.job(parent.id))!.hasDependents).toBe(true)
    expect(await store.workflows.dependencies(child!.id)).toEqual([
      { id: parent.id, state: 'queued', anyEnd: false },
    ])
    // Nothing has ended: nothing changes.
    expect(await store.workflows.settleDependents([parent.id], 3000)).toEqual({ released: [], cancelled: [] })
    await runToEnd(parent.id)
    const settled = await store.workflows.settleDependents([parent.id], 6000)
    expect(settled.cancelled).toEqual([])
    expect(settled.released.map((j) => j.id)).toEqual([child!.id])
    expect((await store.queue.queued()).map((j) => j.id)).toEqual([child!.id])
    expect((await store.queue.job(child!.id))!.held).toBe(false)
  })

  test('a failed dependency cancels its --after dependents down the chain, refunded, cost 0; --after-any ones start', async () => {
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob({ maxCost: 40 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    const [grandchild] = await store.workflows.create([newJob({ maxCost: 60 })], {
      ids: [child!.id],
      anyEnd: false,
    })
    const [cleanup] = await store.workflows.create([newJob({ maxCost: 10 })], {
      ids: [grandchild!.id],
      anyEnd: true,
    })
    expect(await escrowOf()).toBe(110)
    await runToEnd(parent.id, { ...ok(1), state: 'failed' })
    const settled = await store.workflows.settleDependents([parent.id], 7000)
    expect(settled.cancelled).toEqual([
      { id: child!.id, ownerId: 'u-alice', reason: `dependency ${parent.id} failed` },
      { id: grandchild!.id, ownerId: 'u-alice', reason: `dependency ${child!.id} was cancelled` },
    ])
    expect(settled.released.map((j) => j.id)).toEqual([cleanup!.id])
    const c = (await store.queue.job(child!.id))!
    expect(c).toMatchObject({
      state: 'cancelled',
      cost: 0,
      outcome: 'dependency',
      error: `dependency ${parent.id} failed`,
      finishedAt: 7000,
    })
    expect(await escrowOf()).toBe(10)
    expect(await balance()).toBe(GRANT - 10)
    const audit = await store.credits.audit()
    expect(audit.ok).toBe(true)
  })

  test('a dependency that already failed is refused at submit (409); one that succeeded does not hold the job', async () => {
    const bad = await store.queue.create(newJob())
    await runToEnd(bad.id, { ...ok(2), state: 'failed' })
    const err = (await rejection(store.workflows.create([newJob()], { ids: [bad.id], anyEnd: false }))) as {
      status: number
      message: string
    }
    expect(err.status).toBe(409)
    expect(err.message).toContain(`dependency ${bad.id} failed`)
    const [any] = await store.workflows.create([newJob()], { ids: [bad.id], anyEnd: true })
    expect(any!.held).toBe(false)
    const good = await store.queue.create(newJob())
    await runToEnd(good.id)
    const [child] = await store.workflows.create([newJob()], { ids: [good.id], anyEnd: false })
    expect(child!.held).toBe(false)
    expect((await store.queue.queued()).map((j) => j.id).sort()).toEqual([any!.id, child!.id].sort())
  })

  test('the sweep (no ids) decides every held job whose dependencies ended, e.g. a cancelled one', async () => {
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob({ maxCost: 20 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    await store.leases.cancel(parent.id, 4000, () => NOTHING)
    const settled = await store.workflows.settleDependents(undefined, 4500)
    expect(settled.cancelled).toEqual([
      { id: child!.id, ownerId: 'u-alice', reason: `dependency ${parent.id} was cancelled` },
    ])
    expect(await store.workflows.settleDependents(undefined, 4600)).toEqual({ released: [], cancelled: [] })
    expect(await escrowOf()).toBe(0)
  })
})

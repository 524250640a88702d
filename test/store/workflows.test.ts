import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Store, SweepKey } from '../../src/coordinator/store/types'
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

  test('settleHeld decides held jobs from all their dependencies, e.g. one whose dependency was cancelled', async () => {
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob({ maxCost: 20 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    await store.leases.cancel(parent.id, 4000, () => NOTHING)
    const settled = await store.workflows.settleHeld([child!.id], 4500)
    expect(settled.cancelled).toEqual([
      { id: child!.id, ownerId: 'u-alice', reason: `dependency ${parent.id} was cancelled` },
    ])
    expect(await store.workflows.settleHeld([child!.id], 4600)).toEqual({ released: [], cancelled: [] })
    expect(await escrowOf()).toBe(0)
  })

  test('heldPage goes through every held job by (created, id), ties included, and no other', async () => {
    const parent = await store.queue.create(newJob())
    // Members of one array share their time: only the id tells them apart.
    const members = await store.workflows.create(
      [3, 1, 2].map((i) =>
        newJob({ id: `held-${i}`, createdAt: 7000, arrayId: 'arr0000000003', arrayIndex: i }),
      ),
      { ids: [parent.id], anyEnd: false },
    )
    const [early] = await store.workflows.create([newJob({ id: 'held-9', createdAt: 6000 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    await store.queue.create(newJob({ createdAt: 6500 })) // not held
    const seen: string[] = []
    let after: SweepKey | undefined
    for (;;) {
      const page = await store.workflows.heldPage(after, 2)
      expect(page.length).toBeLessThanOrEqual(2)
      seen.push(...page.map((k) => k.id))
      if (page.length < 2) break
      after = page.at(-1)
    }
    expect(seen).toEqual([early!.id, 'held-1', 'held-2', 'held-3'])
    expect(members.every((m) => m.held)).toBe(true)
    // Released jobs leave it.
    await runToEnd(parent.id)
    await store.workflows.settleDependents([parent.id], 9000)
    expect(await store.workflows.heldPage(undefined, 10)).toEqual([])
  })

  test('endedWithDependents gives the ended jobs others wait for, by (ended, id), up to a time', async () => {
    const a = await store.queue.create(newJob({ id: 'dep-a' }))
    const b = await store.queue.create(newJob({ id: 'dep-b' }))
    const c = await store.queue.create(newJob({ id: 'dep-c' }))
    const lone = await store.queue.create(newJob())
    await store.workflows.create([newJob()], { ids: [a.id, b.id, c.id], anyEnd: true })
    await runToEnd(b.id, ok(0, 5000))
    await runToEnd(a.id, ok(1, 5000))
    await runToEnd(lone.id, ok(0, 5000))
    await store.leases.cancel(c.id, 8000, () => NOTHING)
    const all = await store.workflows.endedWithDependents(undefined, 10_000, 10)
    expect(all).toEqual([
      { at: 5000, id: 'dep-a' },
      { at: 5000, id: 'dep-b' },
      { at: 8000, id: 'dep-c' },
    ])
    expect(await store.workflows.endedWithDependents(all[0], 10_000, 1)).toEqual(all.slice(1, 2))
    expect(await store.workflows.endedWithDependents(all[1], 7999, 10)).toEqual([])
    expect(await store.workflows.endedWithDependents({ at: 4999, id: 'zzz' }, 8000, 10)).toEqual(all)
  })

  test('a job after a whole array waits until its last member ends, and is cancelled at once when one fails', async () => {
    const members = await store.workflows.create(
      [0, 1, 2, 3].map((i) => newJob({ arrayId: 'arr0000000004', arrayIndex: i })),
    )
    const ids = members.map((m) => m.id)
    const [after] = await store.workflows.create([newJob({ maxCost: 30 })], { ids, anyEnd: false })
    const [afterAny] = await store.workflows.create([newJob({ maxCost: 30 })], { ids, anyEnd: true })
    for (const id of ids.slice(0, 3).reverse()) {
      await runToEnd(id)
      expect(await store.workflows.settleDependents([id], 6000)).toEqual({ released: [], cancelled: [] })
    }
    await runToEnd(ids[3]!, ok(2))
    const settled = await store.workflows.settleDependents([ids[3]!], 6000)
    expect(settled.cancelled).toEqual([
      { id: after!.id, ownerId: 'u-alice', reason: `dependency ${ids[3]} failed` },
    ])
    expect(settled.released.map((j) => j.id)).toEqual([afterAny!.id])
  })

  test('a dependency that failed unannounced is still seen when the last one ends: the job is cancelled, not released', async () => {
    const a = await store.queue.create(newJob())
    const b = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob({ maxCost: 40 })], {
      ids: [a.id, b.id],
      anyEnd: false,
    })
    await runToEnd(a.id, ok(1)) // its coordinator went down before settling its dependents
    await runToEnd(b.id)
    const settled = await store.workflows.settleDependents([b.id], 6000)
    expect(settled.released).toEqual([])
    expect(settled.cancelled).toEqual([
      { id: child!.id, ownerId: 'u-alice', reason: `dependency ${a.id} failed` },
    ])
    expect(await escrowOf()).toBe(0)
  })
})

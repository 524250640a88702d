import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { DependentsSettled, Store } from '../../src/coordinator/store/types'
import { PASS_EVERY_MS, SETTLE_LAG_MS, SWEEP_PAGE, WaitingSweep } from '../../src/coordinator/waiting-sweep'
import { newJob, ok, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// The leader's sweep of jobs waiting for others, on both engines: it finds what no coordinator
// settled, however many jobs wait, doing a bounded amount of work per run.

let store: Store
let now: number
let heard: DependentsSettled[]
const clock = { now: () => now }
const released = () => heard.flatMap((s) => s.released.map((j) => j.id))

/** Ends `id` at `at` as a coordinator that went down before settling its dependents would leave it. */
async function endUnsettled(id: string, at: number, exitCode = 0): Promise<void> {
  await store.leases.assign(id, 'w-bob', 10 ** 12, at - 10)
  await store.leases.finish({ jobId: id, attempt: 1 }, 'w-bob', ok(exitCode, at))
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
    now = 10_000_000
    heard = []
  })
  afterEach(async () => {
    await closeStore(store)
  })

  const sweep = () => new WaitingSweep(store, clock, (s) => heard.push(s))

  test('its pass reaches every held job, past a page of ones still rightly waiting', async () => {
    const open = await store.queue.create(newJob({ createdAt: 1 }))
    // More jobs than a page, older than the one to find, all waiting for a job that has not ended.
    await store.workflows.create(
      Array.from({ length: SWEEP_PAGE + 5 }, (_, i) =>
        newJob({ createdAt: 100, arrayId: 'arr0000000009', arrayIndex: i }),
      ),
      { ids: [open.id], anyEnd: false },
    )
    const parent = await store.queue.create(newJob({ createdAt: 200 }))
    const [child] = await store.workflows.create([newJob({ createdAt: 300 })], {
      ids: [parent.id],
      anyEnd: false,
    })
    // It ended long before the sweep began: only the pass over held jobs can find its child.
    await endUnsettled(parent.id, 500)
    const s = sweep()
    expect(await s.run()).toBe(0)
    expect(released()).toEqual([])
    expect(await s.run()).toBe(1)
    expect(released()).toEqual([child!.id])
    // The pass is done: later runs decide no held job again.
    const told = heard.length
    expect(await s.run()).toBe(0)
    expect(heard).toHaveLength(told)
  })

  test('a dependent committed after its dependency was swept is found once the lag has passed', async () => {
    const s = sweep()
    expect(await s.run()).toBe(0)
    // Another job with a dependent ends and is swept: the sweep's place moves past it.
    const other = await store.queue.create(newJob())
    await store.workflows.create([newJob()], { ids: [other.id], anyEnd: true })
    await endUnsettled(other.id, now + 1000)
    now += 2000
    expect(await s.run()).toBe(1)
    // This one ended earlier, but its ending (and its held child) became visible only now.
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob()], { ids: [parent.id], anyEnd: false })
    await endUnsettled(parent.id, now - 1500, 3)
    expect(await s.run()).toBe(0)
    now += SETTLE_LAG_MS - 1000
    expect(await s.run()).toBe(1)
    expect(heard.at(-1)!.cancelled).toEqual([
      { id: child!.id, ownerId: 'u-alice', reason: `dependency ${parent.id} failed` },
    ])
  })

  test('restart passes over every held job again (a new leader)', async () => {
    const s = sweep()
    expect(await s.run()).toBe(0)
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob()], { ids: [parent.id], anyEnd: false })
    await endUnsettled(parent.id, 1000) // long before any window
    expect(await s.run()).toBe(0)
    s.restart()
    expect(await s.run()).toBe(1)
    expect(released()).toEqual([child!.id])
  })

  test('what ended lately is decided at the next run, a page at a time', async () => {
    const s = sweep()
    const parents = []
    for (let i = 0; i < 3; i++) parents.push(await store.queue.create(newJob()))
    const children = []
    for (const p of parents)
      children.push((await store.workflows.create([newJob()], { ids: [p.id], anyEnd: false }))[0]!)
    expect(await s.run()).toBe(0)
    for (const [i, p] of parents.entries()) await endUnsettled(p.id, now + i)
    now += 10
    expect(await s.run()).toBe(3)
    expect(released().sort()).toEqual(children.map((c) => c.id).sort())
  })

  test('every so often the pass begins again: an ending no look caught waits that long at most', async () => {
    const s = sweep()
    expect(await s.run()).toBe(0)
    const parent = await store.queue.create(newJob())
    const [child] = await store.workflows.create([newJob()], { ids: [parent.id], anyEnd: false })
    // Dated far behind the sweep (a clock behind, or a commit that came late): no window sees it.
    await endUnsettled(parent.id, now - 10 * SETTLE_LAG_MS)
    now += SETTLE_LAG_MS + 1
    expect(await s.run()).toBe(0)
    now += PASS_EVERY_MS
    expect(await s.run()).toBe(1)
    expect(released()).toEqual([child!.id])
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { JobEvents } from '../../src/coordinator/events'
import type { Hub, WorkerConn } from '../../src/coordinator/hub'
import { QueueIndex } from '../../src/coordinator/queue-index'
import { Scheduler } from '../../src/coordinator/scheduler'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { openSqlite } from '../../src/coordinator/store/sqlite'
import type { LeasesRepo, NewJob, Store } from '../../src/coordinator/store/types'
import type { CoordinatorMessage } from '../../src/protocol/worker'
import { NOTHING, newJob, rejection, seed } from '../support/store-fixtures'

// The scheduler's pass over the in-memory index, against a real SQLite store and a hub that
// only records what it would send: fair share between users, priority within one, jobs no
// worker fits never blocking, free slots never exceeded, and the index kept right when the
// store says no.

const NOW = 1_000_000
const clock = { now: () => NOW }

/** A connected worker as the scheduler sees it (the fields `pass` and `pick` read). */
function worker(id: string, over: Partial<WorkerConn> = {}): WorkerConn {
  const conn: Partial<WorkerConn> = {
    id,
    name: `${id}-box`,
    slots: 1,
    cpus: 4,
    memoryBytes: 8 * 1024 ** 3,
    docker: '27.0.0',
    policy: { maxTimeoutMs: null, images: ['*'], workdirBytes: null },
    connectedAt: 0,
    lastSeen: NOW,
    active: new Set<string>(),
    assignedHere: new Set<string>(),
    draining: false,
    lastBeat: NOW,
    toldMs: DEFAULT_SETTINGS.heartbeatMs,
    beatMs: DEFAULT_SETTINGS.heartbeatMs,
    followsIntervals: true,
    publicKey: null,
    ...over,
  }
  // The socket, the token bucket and the owner's row are the hub's business, never read by a pass.
  return conn as WorkerConn
}

let store: Store
let workers: WorkerConn[]
let sent: { workerId: string; msg: CoordinatorMessage }[]
let errors: unknown[]
let index: QueueIndex

/** A hub that holds `workers` and records what it is asked to send. */
const hub = {
  connected: () => workers,
  send: (workerId: string, msg: CoordinatorMessage) => {
    sent.push({ workerId, msg })
    return true
  },
} as Pick<Hub, 'connected' | 'send'> as Hub

/** A scheduler over `over` (the store, or a wrapper of it), with the index loaded from the store. */
async function scheduler(over: Store = store): Promise<Scheduler> {
  const s = new Scheduler(over, index, hub, new JobEvents(), clock, DEFAULT_SETTINGS, (err) =>
    errors.push(err),
  )
  await s.load()
  return s
}

/** Queues a job of `owner` (alice or bob) at `createdAt`; returns its id. */
async function queue(owner: 'alice' | 'bob', createdAt: number, over: Partial<NewJob> = {}): Promise<string> {
  const job = newJob({ ownerId: `u-${owner}`, createdAt, ...over })
  await store.queue.create(job)
  return job.id
}

/** Job ids assigned so far, in the order they were sent. */
const assigned = () => sent.map((s) => (s.msg.type === 'job.assign' ? s.msg.job.jobId : `?${s.msg.type}`))

/** Frees every worker's slots (their jobs ended) without telling the index: running counts stay. */
const freeSlots = () => workers.forEach((w) => w.active.clear())

beforeEach(async () => {
  store = await seed(openSqlite(':memory:'))
  for (const id of ['w-1', 'w-2', 'w-3']) await store.workers.upsert(id, 'u-bob', `${id}-box`, 8, `key-${id}`)
  workers = []
  sent = []
  errors = []
  index = new QueueIndex()
})
afterEach(async () => {
  await store.close()
})

describe('fair share', () => {
  test('the user with fewer jobs running goes next; between equals, the older head job', async () => {
    const a1 = await queue('alice', 1)
    const a2 = await queue('alice', 2)
    await queue('alice', 3)
    const b1 = await queue('bob', 10)
    workers = [worker('w-1')]
    const s = await scheduler()
    // One slot at a time: nobody runs, alice's head is older; then bob runs none against alice's one.
    expect(await s.pass()).toBe(1)
    freeSlots()
    expect(await s.pass()).toBe(1)
    freeSlots()
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([a1, b1, a2])
    expect(index.runningOf('u-alice')).toBe(2)
    expect(index.runningOf('u-bob')).toBe(1)
  })

  test('jobs already running count: a user with running jobs waits for one with none', async () => {
    const a1 = await queue('alice', 1)
    const a2 = await queue('alice', 2)
    const b1 = await queue('bob', 5)
    await store.leases.assign(a1, 'w-1', NOW + 60_000, NOW)
    workers = [worker('w-2')]
    // Loaded from the store: alice has one assigned, so bob's newer job goes first.
    const s = await scheduler()
    expect(index.runningOf('u-alice')).toBe(1)
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([b1])
    expect(index.has(a2)).toBe(true)
  })

  test("one user's 100 queued jobs do not keep another's one waiting: it goes in the first pass", async () => {
    for (let i = 0; i < 100; i++) await queue('alice', i)
    const b1 = await queue('bob', 1_000)
    workers = [worker('w-1', { slots: 2 })]
    const s = await scheduler()
    expect(await s.pass()).toBe(2)
    expect(assigned()).toContain(b1)
    expect((await store.queue.job(b1))?.state).toBe('assigned')
  })
})

describe('priority', () => {
  test("within one user's jobs, the higher priority first, then the older", async () => {
    const old = await queue('alice', 1)
    const urgent = await queue('alice', 5, { priority: 5 })
    const urgentNewer = await queue('alice', 6, { priority: 5 })
    workers = [worker('w-1', { slots: 3 })]
    const s = await scheduler()
    expect(await s.pass()).toBe(3)
    expect(assigned()).toEqual([urgent, urgentNewer, old])
  })
})

describe('jobs no worker fits', () => {
  test("a user's head job that needs more than any worker has blocks neither that user's next job nor other users", async () => {
    const huge = await queue('alice', 1, { cpus: 64 })
    const a2 = await queue('alice', 2)
    const b1 = await queue('bob', 3)
    workers = [worker('w-1', { slots: 1 }), worker('w-2', { slots: 1 })]
    const s = await scheduler()
    expect(await s.pass()).toBe(2)
    expect(assigned().sort()).toEqual([a2, b1].sort())
    // It still waits, queued in the store and in the index, for a worker that fits it.
    expect(index.has(huge)).toBe(true)
    expect((await store.queue.job(huge))?.state).toBe('queued')
    workers.push(worker('w-3', { cpus: 64 }))
    expect(await s.pass()).toBe(1)
    expect(sent.at(-1)).toMatchObject({ workerId: 'w-3', msg: { type: 'job.assign', job: { jobId: huge } } })
  })

  test("with one free slot and one user, the job behind that user's unfit head still goes", async () => {
    const huge = await queue('alice', 1, { memoryBytes: 512 * 1024 ** 3 })
    const a2 = await queue('alice', 2)
    workers = [worker('w-1')]
    const s = await scheduler()
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([a2])
    expect(index.has(huge)).toBe(true)
  })

  test("an image no worker's owner allows is skipped the same way", async () => {
    const other = await queue('alice', 1, { image: 'r-base:4' })
    const a2 = await queue('alice', 2)
    workers = [
      worker('w-1', { slots: 2, policy: { maxTimeoutMs: null, images: ['python:*'], workdirBytes: null } }),
    ]
    const s = await scheduler()
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([a2])
    expect(index.has(other)).toBe(true)
  })
  test("a worker the job's packages failed to install on is not offered it again; another worker is", async () => {
    const a1 = await queue('alice', 1)
    workers = [worker('w-1', { slots: 2 })]
    const s = await scheduler()
    const row = (await store.queue.queued([a1]))[0]!
    index.remove(a1)
    index.add({ ...row, installFailedOn: ['w-1'] })
    expect(await s.pass()).toBe(0)
    expect(workers[0]!.active.size).toBe(0)
    workers.push(worker('w-2'))
    expect(await s.pass()).toBe(1)
    expect(sent.map((m) => m.workerId)).toEqual(['w-2'])
  })
})

describe('free slots', () => {
  test('a pass never assigns more than the free slots, nor to a draining worker', async () => {
    for (let i = 0; i < 20; i++) await queue(i % 2 === 0 ? 'alice' : 'bob', i)
    workers = [
      worker('w-1', { slots: 3, active: new Set(['someone-else']) }),
      worker('w-2', { slots: 2 }),
      worker('w-3', { slots: 8, draining: true }),
    ]
    const s = await scheduler()
    expect(await s.pass()).toBe(4)
    const per = (id: string) => sent.filter((m) => m.workerId === id).length
    expect([per('w-1'), per('w-2'), per('w-3')]).toEqual([2, 2, 0])
    expect(workers.map((w) => w.active.size)).toEqual([3, 2, 0])
    // Full now: another pass assigns nothing and leaves the queue as it is.
    expect(await s.pass()).toBe(0)
    expect(index.size).toBe(16)
    const counts = await store.queue.counts()
    expect(counts.assigned).toBe(4)
    expect(counts.queued).toBe(16)
  })
  test('a pass with one free slot looks at a few jobs, however many are queued', async () => {
    for (let i = 0; i < 500; i++) await queue(i % 2 === 0 ? 'alice' : 'bob', i)
    workers = [worker('w-1')]
    const s = await scheduler()
    const before = index.stepped
    expect(await s.pass()).toBe(1)
    const looked = index.stepped - before
    expect(looked).toBeLessThan(12)
  })
})

describe('when the store says no', () => {
  test('a job taken meanwhile (cancelled in the store after the index read it) is dropped and its slot freed', async () => {
    const a1 = await queue('alice', 1)
    const a2 = await queue('alice', 2)
    workers = [worker('w-1', { slots: 2 })]
    const s = await scheduler()
    // Cancelled behind the index's back (another coordinator, say): the assignment's compare-and-set fails.
    expect(await store.leases.cancel(a1, NOW, () => NOTHING)).toBeDefined()
    expect(index.has(a1)).toBe(true)
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([a2])
    expect(index.has(a1)).toBe(false)
    expect([...workers[0]!.active]).toEqual([a2])
    expect(index.runningOf('u-alice')).toBe(1)
    expect((await store.queue.job(a1))?.state).toBe('cancelled')
    // The freed slot takes the next job.
    const a3 = await queue('alice', 3)
    index.add((await store.queue.queued([a3]))[0]!)
    expect(await s.pass()).toBe(1)
    expect(assigned()).toEqual([a2, a3])
  })

  test('a store error in assignMany puts every picked job back in the index, in its place, with no slot held', async () => {
    const a1 = await queue('alice', 1)
    const a2 = await queue('alice', 2)
    const b1 = await queue('bob', 3)
    workers = [worker('w-1', { slots: 2 }), worker('w-2', { slots: 2 })]
    const broken = Object.create(store.leases) as LeasesRepo
    const fault = new Error('disk I/O error')
    broken.assignMany = () => Promise.reject(fault)
    const failing = await scheduler({ ...store, leases: broken })
    expect(await rejection(failing.pass())).toBe(fault)
    expect(sent).toEqual([])
    expect(index.size).toBe(3)
    expect(workers.map((w) => w.active.size)).toEqual([0, 0])
    expect(index.runningOf('u-alice')).toBe(0)
    expect(index.runningOf('u-bob')).toBe(0)
    expect((await store.queue.counts()).queued).toBe(3)
    // The store back: the same jobs go, in the same order as if nothing had happened.
    const s = new Scheduler(store, index, hub, new JobEvents(), clock, DEFAULT_SETTINGS, (err) =>
      errors.push(err),
    )
    expect(await s.pass()).toBe(3)
    expect(assigned()).toEqual([a1, b1, a2])
    expect(index.size).toBe(0)
  })

  test('a wake whose pass fails reports the error instead of throwing it away', async () => {
    await queue('alice', 1)
    workers = [worker('w-1')]
    const broken = Object.create(store.leases) as LeasesRepo
    broken.assignMany = () => Promise.reject(new Error('database is locked'))
    const s = await scheduler({ ...store, leases: broken })
    s.wake()
    s.wake()
    for (let i = 0; i < 50 && errors.length === 0; i++) await Bun.sleep(10)
    expect(errors.map(String)).toEqual(['Error: database is locked'])
    expect(index.size).toBe(1)
  })
})

describe('the assignment sent', () => {
  test('carries the row the store assigned: attempt, script and limits', async () => {
    const id = await queue('bob', 1, { args: ['--n', '7'], cpus: 2 })
    workers = [worker('w-2', { slots: 1 })]
    const s = await scheduler()
    expect(await s.pass()).toBe(1)
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({
      workerId: 'w-2',
      msg: {
        type: 'job.assign',
        job: {
          jobId: id,
          attempt: 1,
          args: ['--n', '7'],
          cpus: 2,
          script: { name: 'job.py', contentBase64: Buffer.from('print("hi")\n').toString('base64') },
        },
      },
    })
    expect(await store.queue.job(id)).toMatchObject({ state: 'assigned', workerId: 'w-2', attempt: 1 })
  })
})

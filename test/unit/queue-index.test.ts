import { describe, expect, test } from 'bun:test'
import { QueueIndex, watchQueue, type Cursor } from '../../src/coordinator/queue-index'
import type { QueuedJob } from '../../src/coordinator/store'
import { NEW_JOB_DEFAULTS } from '../../src/coordinator/store/job-rules'

// The in-memory queue the scheduler reads instead of ranking the queue in SQL: each user's line in
// order, running counts for fair share, and cursors whose cost does not grow with the queue.

/** A queued job of `ownerId` made at `createdAt` with `priority` (the fields the index orders by). */
function q(id: string, ownerId: string, createdAt: number, priority = 0): QueuedJob {
  return {
    ...NEW_JOB_DEFAULTS,
    id,
    ownerId,
    state: 'queued',
    image: 'python:3.12-slim',
    command: ['python3', 'job.py'],
    scriptName: 'job.py',
    args: [],
    timeoutMs: 60_000,
    cpus: 1,
    memoryBytes: 256 * 1024 ** 2,
    maxAttempts: 3,
    priority,
    maxCost: 0,
    createdAt,
  }
}

/** Every job id a fresh cursor of `ownerId` walks over, in order. */
function lineOf(index: QueueIndex, ownerId: string): string[] {
  const cursor = index.cursors().find((c) => c.ownerId === ownerId)
  const ids: string[] = []
  for (let job = cursor?.job(); job; job = cursor?.job()) {
    ids.push(job.id)
    cursor!.advance()
  }
  return ids
}

/** The head job id of every user with queued jobs. */
const heads = (index: QueueIndex) =>
  Object.fromEntries(index.cursors().map((c: Cursor) => [c.ownerId, c.job()?.id]))

describe('a user line', () => {
  test('is ordered by priority (highest first), then age, then id, whatever the order jobs arrive in', () => {
    const index = new QueueIndex()
    index.add(q('j-old-low', 'alice', 10, 0))
    index.add(q('j-new-high', 'alice', 30, 5))
    index.add(q('j-b', 'alice', 20, 0))
    index.add(q('j-a', 'alice', 20, 0))
    index.add(q('j-old-high', 'alice', 5, 5))
    index.add(q('j-negative', 'alice', 1, -1))
    expect(lineOf(index, 'alice')).toEqual([
      'j-old-high',
      'j-new-high',
      'j-old-low',
      'j-a',
      'j-b',
      'j-negative',
    ])
  })

  test('users have lines of their own', () => {
    const index = new QueueIndex()
    index.add(q('a2', 'alice', 2))
    index.add(q('b1', 'bob', 1))
    index.add(q('a1', 'alice', 1))
    expect(lineOf(index, 'alice')).toEqual(['a1', 'a2'])
    expect(lineOf(index, 'bob')).toEqual(['b1'])
    expect(heads(index)).toEqual({ alice: 'a1', bob: 'b1' })
  })
})

describe('add, remove, has, size', () => {
  test('track the queued jobs; a repeated add or remove changes nothing', () => {
    const index = new QueueIndex()
    expect(index.size).toBe(0)
    index.add(q('j1', 'alice', 1))
    index.add(q('j2', 'alice', 2))
    // A repeat (another coordinator announcing a job this one already has) is ignored, even if it differs.
    index.add(q('j1', 'alice', 99, 9))
    expect(index.size).toBe(2)
    expect(index.has('j1')).toBe(true)
    expect(lineOf(index, 'alice')).toEqual(['j1', 'j2'])
    index.remove('j1')
    index.remove('j1')
    index.remove('never-queued')
    expect(index.size).toBe(1)
    expect(index.has('j1')).toBe(false)
    expect(lineOf(index, 'alice')).toEqual(['j2'])
    index.remove('j2')
    expect(index.size).toBe(0)
    // A user with nothing queued has no cursor.
    expect(index.cursors()).toEqual([])
  })

  test('a requeued job goes back to its place by its original age, and stops counting as running', () => {
    const index = new QueueIndex()
    for (const [id, at] of [
      ['j1', 1],
      ['j2', 2],
      ['j3', 3],
    ] as const)
      index.add(q(id, 'alice', at))
    // j1 assigned: out of the queue, running.
    index.remove('j1')
    index.started('j1', 'alice')
    index.add(q('j4', 'alice', 4))
    expect(index.runningOf('alice')).toBe(1)
    expect(lineOf(index, 'alice')).toEqual(['j2', 'j3', 'j4'])
    // Its lease expired: queued again with the createdAt it was submitted with.
    index.add(q('j1', 'alice', 1))
    expect(index.runningOf('alice')).toBe(0)
    expect(lineOf(index, 'alice')).toEqual(['j1', 'j2', 'j3', 'j4'])
    // A requeue into the middle of a line lands in the middle.
    index.remove('j3')
    index.add(q('j3', 'alice', 3))
    expect(lineOf(index, 'alice')).toEqual(['j1', 'j2', 'j3', 'j4'])
  })
})

describe('running counts', () => {
  test('a start counts once however often it is reported; a stop once', () => {
    const index = new QueueIndex()
    index.started('j1', 'alice')
    index.started('j1', 'alice')
    index.started('j2', 'alice')
    index.started('j3', 'bob')
    expect(index.runningOf('alice')).toBe(2)
    expect(index.runningOf('bob')).toBe(1)
    expect(index.runningOf('carol')).toBe(0)
    index.stopped('j1')
    index.stopped('j1')
    index.stopped('unknown')
    expect(index.runningOf('alice')).toBe(1)
    index.stopped('j2')
    index.stopped('j3')
    expect(index.runningOf('alice')).toBe(0)
    expect(index.runningOf('bob')).toBe(0)
  })

  test('load replaces the queue and the counts; countActive replaces only the counts', () => {
    const index = new QueueIndex()
    index.add(q('stale', 'alice', 1))
    index.started('stale-run', 'alice')
    index.load(
      [q('b2', 'bob', 2), q('a1', 'alice', 1), q('b1', 'bob', 1)],
      [
        { id: 'r1', ownerId: 'bob' },
        { id: 'r2', ownerId: 'bob' },
        { id: 'r2', ownerId: 'bob' },
      ],
    )
    expect(index.size).toBe(3)
    expect(index.has('stale')).toBe(false)
    expect(lineOf(index, 'bob')).toEqual(['b1', 'b2'])
    expect(index.runningOf('alice')).toBe(0)
    expect(index.runningOf('bob')).toBe(2)
    index.countActive([{ id: 'r9', ownerId: 'alice' }])
    expect(index.runningOf('bob')).toBe(0)
    expect(index.runningOf('alice')).toBe(1)
    expect(index.size).toBe(3)
    // The counted job ending is counted off (the set it came from is the one now known).
    index.stopped('r9')
    expect(index.runningOf('alice')).toBe(0)
  })
})

describe('position', () => {
  test('counts the owner jobs ahead of it, and every queued job', () => {
    const index = new QueueIndex()
    const jobs = [q('a1', 'alice', 1), q('a2', 'alice', 2), q('a3', 'alice', 3), q('b1', 'bob', 1)]
    for (const j of jobs) index.add(j)
    expect(index.position(jobs[0]!)).toEqual({ aheadOfMine: 0, queued: 4 })
    expect(index.position(jobs[2]!)).toEqual({ aheadOfMine: 2, queued: 4 })
    expect(index.position(jobs[3]!)).toEqual({ aheadOfMine: 0, queued: 4 })
    // A higher priority submitted later goes ahead; one that left no longer counts.
    index.add(q('a-urgent', 'alice', 9, 1))
    index.remove('a1')
    expect(index.position(jobs[2]!)).toEqual({ aheadOfMine: 2, queued: 4 })
  })
})

describe('cursors', () => {
  test('skip jobs removed after the cursor was made, and see the same job until advanced', () => {
    const index = new QueueIndex()
    for (let i = 1; i <= 5; i++) index.add(q(`j${i}`, 'alice', i))
    const [cursor] = index.cursors()
    expect(cursor!.job()?.id).toBe('j1')
    expect(cursor!.job()?.id).toBe('j1')
    index.remove('j1')
    index.remove('j3')
    expect(cursor!.job()?.id).toBe('j2')
    cursor!.advance()
    expect(cursor!.looked).toBe(1)
    expect(cursor!.job()?.id).toBe('j4')
    index.remove('j5')
    cursor!.advance()
    expect(cursor!.job()).toBeUndefined()
  })

  test('advance moves past the job under the cursor now, the one it showed having left', () => {
    const index = new QueueIndex()
    for (let i = 1; i <= 3; i++) index.add(q(`j${i}`, 'alice', i))
    const [cursor] = index.cursors()
    expect(cursor!.job()?.id).toBe('j1')
    index.remove('j1')
    cursor!.advance()
    expect(cursor!.job()?.id).toBe('j3')
  })

  test('after many removes (the line compacted) keep the order, requeues included', () => {
    const index = new QueueIndex()
    for (let i = 0; i < 1000; i++) index.add(q(`j${String(i).padStart(4, '0')}`, 'alice', i))
    // Most of the line leaves, from the head (assigned) and here and there (cancelled), between passes.
    for (let i = 0; i < 300; i++) index.remove(`j${String(i).padStart(4, '0')}`)
    expect(lineOf(index, 'alice')[0]).toBe('j0300')
    for (let i = 0; i < 1000; i++) if (i < 700 || i % 3 === 0) index.remove(`j${String(i).padStart(4, '0')}`)
    const expected: string[] = []
    for (let i = 700; i < 1000; i++) if (i % 3 !== 0) expected.push(`j${String(i).padStart(4, '0')}`)
    expect(lineOf(index, 'alice')).toEqual(expected)
    // A job requeued into the compacted line with its old age goes first, one in the middle in the middle.
    index.add(q('j0005', 'alice', 5))
    index.add(q('j0801', 'alice', 801))
    const again = lineOf(index, 'alice')
    expect(again[0]).toBe('j0005')
    expect(again).toEqual([...again].sort())
    expect(again.length).toBe(expected.length + 2)
    expect(index.size).toBe(expected.length + 2)
  })
})

describe('watchQueue', () => {
  test('keeps the index in step with the lifecycle and tells the grid', () => {
    const index = new QueueIndex()
    const told: string[] = []
    const watch = watchQueue(index, {
      queued: (id) => void told.push(`queued ${id}`),
      taken: (ids) => void told.push(`taken ${ids.join(',')}`),
    })
    watch.queued(q('j1', 'alice', 1))
    watch.queued(q('j2', 'alice', 2))
    expect(index.size).toBe(2)
    index.remove('j2')
    index.started('j2', 'alice')
    // j1 cancelled while queued: out of the index; j2 ended: no longer running.
    watch.left('j1')
    watch.stopped('j2')
    expect(index.size).toBe(0)
    expect(index.runningOf('alice')).toBe(0)
    expect(told).toEqual(['queued j1', 'queued j2', 'taken j1'])
    // A job cancelled while assigned stops counting as running too.
    index.started('j3', 'alice')
    watch.left('j3')
    expect(index.runningOf('alice')).toBe(0)
  })
})

describe('a backlog of 100,000 jobs of 50 users', () => {
  const USERS = 50
  const PER_USER = 2000

  test('scheduling passes step over a bounded number of entries, not over the queue', () => {
    const index = new QueueIndex()
    const queued: QueuedJob[] = []
    for (let n = 0; n < PER_USER; n++)
      for (let u = 0; u < USERS; u++) queued.push(q(`u${u}-${n}`, `u${u}`, n))
    index.load(queued, [])
    expect(index.size).toBe(USERS * PER_USER)
    // A quarter of each line cancelled here and there: passes must skip them without rereading them each time.
    for (let u = 0; u < USERS; u++) for (let n = 3; n < PER_USER; n += 4) index.remove(`u${u}-${n}`)
    const before = index.stepped
    const PASSES = 2000
    const PICKS = 32
    let assigned = 0
    for (let pass = 0; pass < PASSES; pass++) {
      // What the scheduler does: look at every head, take a few jobs (fewest running first), remove them.
      const cursors = index.cursors()
      for (const c of cursors) c.job()
      for (let k = 0; k < PICKS && cursors.length > 0; k++) {
        const c = cursors[k % cursors.length]!
        const job = c.job()
        if (!job) continue
        c.advance()
        index.remove(job.id)
        assigned++
      }
    }
    const steps = index.stepped - before
    // Each pass looks at 50 heads and 32 picks; skipping the cancelled and the compactions are amortized.
    const bound = PASSES * (USERS + PICKS) * 4 + USERS * PER_USER
    expect(assigned).toBe(PASSES * PICKS)
    expect(steps).toBeLessThan(bound)
    // One pass, measured alone, stays near its heads and picks whatever the queue (still over 10,000 jobs).
    expect(index.size).toBeGreaterThan(10_000)
    const start = index.stepped
    const cursors = index.cursors()
    for (const c of cursors) {
      c.job()
      c.advance()
      c.job()
    }
    expect(index.stepped - start).toBeLessThan(USERS * 8)
  })

  test('jobs cancelled while no pass runs do not pile up: the next job queued compacts its line', () => {
    const index = new QueueIndex()
    for (let i = 0; i < 200; i++) index.add(q(`c${String(i).padStart(3, '0')}`, 'u1', i))
    // Every job but each fourth cancelled, none at the head, and no pass in between.
    for (let i = 1; i < 200; i++) if (i % 4 !== 0) index.remove(`c${String(i).padStart(3, '0')}`)
    expect(index.held).toBe(200)
    index.add(q('c-new', 'u1', 1_000))
    expect(index.size).toBe(51)
    expect(index.held).toBe(51)
    expect(lineOf(index, 'u1')).toHaveLength(51)
  })
})

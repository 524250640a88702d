import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JobEvents } from '../../src/coordinator/events'
import { Lifecycle } from '../../src/coordinator/lifecycle'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { Store } from '../../src/coordinator/store'
import type { UserRow } from '../../src/db/schema'
import type { WorkerMessage } from '../../src/protocol/worker'

// Only what the other unit tests cannot reach through the store or the app: whose reports count.

let dir: string
let store: Store
let lifecycle: Lifecycle
let alice: UserRow

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gridx-lifecycle-'))
  store = new Store(join(dir, 'gridx.db'))
  alice = store.createUser(
    { id: 'u-alice', name: 'alice', passwordHash: 'x', createdAt: 1 },
    { grant: 1_000_000 },
  )
  lifecycle = new Lifecycle(store, new JobEvents(), { now: () => 50 }, DEFAULT_SETTINGS, () => undefined)
})
afterEach(() => {
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A job assigned to `holder` under attempt 1. */
function assignedTo(holder: string) {
  const job = lifecycle.submit(alice, {
    image: 'python:3.12-slim',
    command: ['true'],
    args: [],
    timeoutMs: 10_000,
    cpus: 1,
    memoryBytes: 64 * 1024 * 1024,
  })
  expect(store.assign(job.id, holder, 1000)?.attempt).toBe(1)
  return { jobId: job.id, attempt: 1 }
}

type Result = Extract<WorkerMessage, { type: 'job.result' }>
const result = (lease: { jobId: string; attempt: number }, over: Partial<Result>): Result => ({
  type: 'job.result',
  lease,
  outcome: 'exited',
  exitCode: 0,
  error: null,
  retryable: false,
  durationMs: 100,
  ...over,
})

describe('Lifecycle.result: only the lease holder’s reports count', () => {
  test('a result from a worker that does not hold the lease changes nothing', () => {
    const lease = assignedTo('worker-a')
    lifecycle.result('worker-b', result(lease, { exitCode: 1 }))
    lifecycle.result('worker-b', result(lease, { outcome: 'error', exitCode: null, error: 'x' }))
    expect(store.job(lease.jobId)).toMatchObject({ state: 'assigned', workerId: 'worker-a', attempt: 1 })
  })

  test('a retryable error from the holder puts the job back in the queue', () => {
    const lease = assignedTo('worker-a')
    lifecycle.result(
      'worker-a',
      result(lease, { outcome: 'error', exitCode: null, error: 'docker died', retryable: true }),
    )
    expect(store.job(lease.jobId)).toMatchObject({ state: 'queued', workerId: null, error: 'docker died' })
  })

  // BUG (src/coordinator/lifecycle.ts result() -> retry(), and src/coordinator/store.ts requeue()):
  // a retryable `error` result is requeued without checking which worker sent it, because
  // Store.requeue matches only (job, attempt, state). Any authenticated worker that knows a job id
  // can pull a job away from the worker running it (which keeps running it, unpaid, with no
  // job.cancel). Fix: give requeue an optional workerId and add eq(jobs.workerId, workerId) to
  // its WHERE when a worker report triggers it (lease expiry can keep calling it without one).
  test('a retryable error from a worker that does not hold the lease changes nothing', () => {
    const lease = assignedTo('worker-a')
    lifecycle.result(
      'intruder',
      result(lease, { outcome: 'error', exitCode: null, error: 'x', retryable: true }),
    )
    expect(store.job(lease.jobId)).toMatchObject({ state: 'assigned', workerId: 'worker-a' })
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JobEvents } from '../../src/coordinator/events'
import { Lifecycle } from '../../src/coordinator/lifecycle'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { Store } from '../../src/coordinator/store'
import type { UserRow } from '../../src/db/sqlite/schema'
import { type Receipt, ReceiptBody, verifyReceipt } from '../../src/protocol/receipt'
import type { LeaseRef } from '../../src/protocol/worker'
import { signedResult, testWorker, type TestWorker } from '../support/worker-keys'

// Only what the other unit tests cannot reach through the store or the app: whose reports count.

let dir: string
let store: Store
let lifecycle: Lifecycle
let alice: UserRow
let logs: string[]

// Keys are made once: the workers are registered afresh with them in every test's new database.
const workerA = testWorker('worker-a')
const workerB = testWorker('worker-b')
const intruder = testWorker('intruder')

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gridx-lifecycle-'))
  store = new Store(join(dir, 'gridx.db'))
  alice = store.createUser(
    { id: 'u-alice', name: 'alice', passwordHash: 'x', createdAt: 1 },
    { signup: 'open', grant: 1_000_000 },
  )
  const bob = store.createUser(
    { id: 'u-bob', name: 'bob', passwordHash: 'x', createdAt: 1 },
    { signup: 'open', grant: 0 },
  )
  for (const w of [workerA, workerB, intruder]) store.upsertWorker(w.id, bob.id, w.id, 1, w.key.publicKey)
  logs = []
  lifecycle = new Lifecycle(store, new JobEvents(), { now: () => 50 }, DEFAULT_SETTINGS, (l) => logs.push(l))
})
afterEach(() => {
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A queued job of alice's. */
function queued() {
  return lifecycle.submit(alice, {
    image: 'python:3.12-slim',
    command: ['true'],
    args: [],
    timeoutMs: 10_000,
    cpus: 1,
    memoryBytes: 64 * 1024 * 1024,
    priority: 0,
  })
}

/** A job assigned to `holder` under attempt 1. */
function assignedTo(holder: string): LeaseRef {
  const job = queued()
  expect(store.assign(job.id, holder, 1000)?.attempt).toBe(1)
  return { jobId: job.id, attempt: 1 }
}

/** A job running on `holder` under attempt 1. */
function runningOn(holder: TestWorker): LeaseRef {
  const lease = assignedTo(holder.id)
  expect(store.markRunning(lease, holder.id, 10)).toBe(true)
  return lease
}

/** The same bytes with one bit of byte `i` flipped. */
function flip(bytes: Buffer, i: number): Buffer {
  const out = Buffer.from(bytes)
  out[i] = out[i]! ^ 0x01
  return out
}
const flipBody = (r: Receipt, i: number): Receipt => ({
  ...r,
  body: flip(Buffer.from(r.body), i).toString(),
})
const flipSignature = (r: Receipt, i: number): Receipt => ({
  ...r,
  signature: flip(Buffer.from(r.signature, 'base64'), i).toString('base64'),
})

/** Asserts that the attempt is still running, unended, and that the ledger did not move. */
function expectUntouched(lease: LeaseRef, holder: string, transfers: number) {
  expect(store.job(lease.jobId)).toMatchObject({ state: 'running', workerId: holder, attempt: 1 })
  expect(store.attemptsOf(lease.jobId)).toMatchObject([{ attempt: 1, endedAt: null, receipt: null }])
  expect(store.audit()).toMatchObject({ ok: true, transfers })
}

describe('Lifecycle.result: only the lease holder’s reports count', () => {
  // The others are registered with their own keys and sign properly, so what refuses them here is
  // the lease, not the receipt.
  test('a result from a worker that does not hold the lease changes nothing', () => {
    const lease = assignedTo(workerA.id)
    lifecycle.result(workerB.id, signedResult(workerB, lease, { exitCode: 1 }))
    lifecycle.result(
      workerB.id,
      signedResult(workerB, lease, { outcome: 'error', exitCode: null, error: 'x' }),
    )
    expect(store.job(lease.jobId)).toMatchObject({ state: 'assigned', workerId: workerA.id, attempt: 1 })
  })

  test('a retryable error from the holder puts the job back in the queue', () => {
    const lease = assignedTo(workerA.id)
    lifecycle.result(
      workerA.id,
      signedResult(workerA, lease, {
        outcome: 'error',
        exitCode: null,
        error: 'docker died',
        retryable: true,
      }),
    )
    expect(store.job(lease.jobId)).toMatchObject({ state: 'queued', workerId: null, error: 'docker died' })
  })

  test('a retryable error from a worker that does not hold the lease changes nothing', () => {
    const lease = assignedTo(workerA.id)
    lifecycle.result(
      intruder.id,
      signedResult(intruder, lease, { outcome: 'error', exitCode: null, error: 'x', retryable: true }),
    )
    expect(store.job(lease.jobId)).toMatchObject({ state: 'assigned', workerId: workerA.id })
  })
})

describe('Lifecycle.result: only a receipt signed with the holder’s pinned key counts', () => {
  test('a result whose signature does not verify is refused: the job keeps running, nothing settles', () => {
    const lease = runningOn(workerA)
    const transfers = store.audit().transfers
    const good = signedResult(workerA, lease)
    const forged = [
      flipSignature(good.receipt, 0),
      flipSignature(good.receipt, 63),
      { ...good.receipt, signature: '' },
      { ...good.receipt, signature: 'not base64 at all!' },
      { ...good.receipt, signature: Buffer.alloc(64).toString('base64') },
      // a body that says something else under the original signature
      { ...good.receipt, body: good.receipt.body.replace('"exitCode":0', '"exitCode":1') },
    ]
    for (const receipt of forged) {
      lifecycle.result(workerA.id, { ...good, receipt })
      expectUntouched(lease, workerA.id, transfers)
    }
    expect(logs.filter((l) => l.includes('does not verify'))).toHaveLength(forged.length)
  })

  test('a result signed with another worker’s key is refused', () => {
    const lease = runningOn(workerA)
    const transfers = store.audit().transfers
    // B's key over a body that names A, as A would send it
    lifecycle.result(workerA.id, signedResult({ id: workerA.id, key: workerB.key }, lease))
    expectUntouched(lease, workerA.id, transfers)
    // B's own, well-formed receipt passed off by A
    lifecycle.result(workerA.id, {
      ...signedResult(workerA, lease),
      receipt: signedResult(workerB, lease).receipt,
    })
    expectUntouched(lease, workerA.id, transfers)
    // A's receipt replayed by B (who does not hold the lease anyway)
    lifecycle.result(workerB.id, signedResult(workerA, lease))
    expectUntouched(lease, workerA.id, transfers)
  })

  test('a receipt whose body does not match the report is refused, field by field', () => {
    const lease = runningOn(workerA)
    const transfers = store.audit().transfers
    const report = { outcome: 'exited', exitCode: 0, durationMs: 100 } as const
    const mismatches = [
      { jobId: 'another-job' },
      { attempt: 2 },
      { workerId: workerB.id },
      { outcome: 'timeout' },
      { exitCode: 1 },
      { exitCode: null },
      { durationMs: 99 },
    ]
    for (const body of mismatches) {
      lifecycle.result(workerA.id, signedResult(workerA, lease, report, body))
      expectUntouched(lease, workerA.id, transfers)
    }
    expect(logs.filter((l) => l.includes('does not match'))).toHaveLength(mismatches.length)
    // The same report with a matching body is taken: the refusals above were the mismatches.
    lifecycle.result(workerA.id, signedResult(workerA, lease, report))
    expect(store.job(lease.jobId)).toMatchObject({ state: 'succeeded', exitCode: 0 })
  })

  test('a worker without a pinned key cannot report a result', () => {
    const legacy = testWorker('worker-legacy')
    store.upsertWorker(legacy.id, alice.id, 'old', 1)
    const lease = runningOn(legacy)
    const transfers = store.audit().transfers
    lifecycle.result(legacy.id, signedResult(legacy, lease))
    expectUntouched(lease, legacy.id, transfers)
    expect(logs.at(-1)).toContain('no pinned key')
  })

  test('a valid result is taken once and its receipt kept with the attempt, verifiable later', () => {
    const lease = runningOn(workerA)
    const transfers = store.audit().transfers
    const msg = signedResult(workerA, lease, { exitCode: 3, durationMs: 2500 })
    lifecycle.result(workerA.id, msg)
    expect(store.job(lease.jobId)).toMatchObject({ state: 'failed', exitCode: 3, outcome: 'exited' })
    // settled: the worker's owner paid, the rest refunded
    expect(store.audit()).toMatchObject({ ok: true, transfers: transfers + 2 })
    const [attempt, ...more] = store.attemptsOf(lease.jobId)
    expect(more).toHaveLength(0)
    expect(attempt).toMatchObject({
      attempt: 1,
      workerId: workerA.id,
      outcome: 'exited',
      endedAt: 50,
      receipt: msg.receipt.body,
      signature: msg.receipt.signature,
    })
    const stored: Receipt = { body: attempt!.receipt!, signature: attempt!.signature! }
    const body = verifyReceipt(stored, workerA.key.publicKey)
    expect(body).toEqual(ReceiptBody.parse(JSON.parse(msg.receipt.body)))
    expect(body).toMatchObject({ jobId: lease.jobId, attempt: 1, workerId: workerA.id, exitCode: 3 })
    expect(verifyReceipt(stored, workerB.key.publicKey)).toBeUndefined()
    const size = Buffer.byteLength(stored.body)
    for (const i of [0, 1, Math.floor(size / 3), Math.floor(size / 2), size - 2, size - 1]) {
      expect(verifyReceipt(flipBody(stored, i), workerA.key.publicKey)).toBeUndefined()
    }
    for (const i of [0, 1, 31, 32, 62, 63]) {
      expect(verifyReceipt(flipSignature(stored, i), workerA.key.publicKey)).toBeUndefined()
    }
    // the same result again changes nothing and settles nothing
    lifecycle.result(workerA.id, msg)
    expect(store.audit()).toMatchObject({ ok: true, transfers: transfers + 2 })
    expect(store.attemptsOf(lease.jobId)).toEqual([attempt!])
  })
})

describe('Lifecycle.release: a job handed back does not use up its tries', () => {
  test('released again and again, the job is requeued every time and its try budget grows by one', () => {
    const job = queued()
    expect(job.maxAttempts).toBe(3)
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect(store.assign(job.id, workerA.id, 1000)?.attempt).toBe(attempt)
      lifecycle.release(workerA.id, { jobId: job.id, attempt }, 'draining')
      expect(store.job(job.id)).toMatchObject({
        state: 'queued',
        workerId: null,
        attempt,
        maxAttempts: 3 + attempt,
      })
    }
    const outcomes = store.attemptsOf(job.id).map((a) => [a.attempt, a.outcome, a.reason])
    expect(outcomes).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'released', 'draining']))
    // nothing settled: only the signup grant and the escrow
    expect(store.audit()).toMatchObject({ ok: true, transfers: 2 })
  })

  test('a release from a worker that does not hold the lease changes nothing', () => {
    const lease = runningOn(workerA)
    lifecycle.release(workerB.id, lease, 'not mine')
    lifecycle.release(workerA.id, { ...lease, attempt: 2 }, 'stale')
    expect(store.job(lease.jobId)).toMatchObject({ state: 'running', workerId: workerA.id, maxAttempts: 3 })
    expect(store.attemptsOf(lease.jobId)).toMatchObject([{ outcome: null }])
  })
})

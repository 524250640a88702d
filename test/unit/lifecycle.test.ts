import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { JobEvents } from '../../src/coordinator/events'
import { Lifecycle } from '../../src/coordinator/lifecycle'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import type { Store } from '../../src/coordinator/store'
import type { UserRow } from '../../src/db/sqlite/schema'
import { type Receipt, ReceiptBody, verifyReceipt } from '../../src/protocol/receipt'
import type { LeaseRef } from '../../src/protocol/worker'
import { closeStore, ENGINES } from '../support/stores'
import { signedResult, testWorker, type TestWorker } from '../support/worker-keys'

// Only what the other unit tests cannot reach through the store or the app: whose reports count.

let store: Store
let lifecycle: Lifecycle
let alice: UserRow
let logs: string[]

// Keys are made once: the workers are registered afresh with them in every test's new database.
const workerA = testWorker('worker-a')
const workerB = testWorker('worker-b')
const intruder = testWorker('intruder')

/** What alice submits. */
const REQUEST = {
  image: 'python:3.12-slim',
  command: ['true'],
  args: [],
  timeoutMs: 10_000,
  cpus: 1,
  memoryBytes: 64 * 1024 * 1024,
  priority: 0,
}

/** A queued job of alice's. */
function queued() {
  return lifecycle.submit(alice, REQUEST)
}

/** A job assigned to `holder` under attempt 1. */
async function assignedTo(holder: string): Promise<LeaseRef> {
  const job = await queued()
  expect((await store.leases.assign(job.id, holder, 1000))?.attempt).toBe(1)
  return { jobId: job.id, attempt: 1 }
}

/** A job running on `holder` under attempt 1. */
async function runningOn(holder: TestWorker): Promise<LeaseRef> {
  const lease = await assignedTo(holder.id)
  expect(await store.leases.markRunning(lease, holder.id, 10)).toBe(true)
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
async function expectUntouched(lease: LeaseRef, holder: string, transfers: number) {
  expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'running', workerId: holder, attempt: 1 })
  expect(await store.leases.attemptsOf(lease.jobId)).toMatchObject([
    { attempt: 1, endedAt: null, receipt: null },
  ])
  expect(await store.credits.audit()).toMatchObject({ ok: true, transfers })
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await engine.open()
    alice = await store.accounts.create(
      { id: 'u-alice', name: 'alice', passwordHash: 'x', createdAt: 1 },
      { signup: 'open', grant: 1_000_000 },
    )
    const bob = await store.accounts.create(
      { id: 'u-bob', name: 'bob', passwordHash: 'x', createdAt: 1 },
      { signup: 'open', grant: 0 },
    )
    for (const w of [workerA, workerB, intruder])
      await store.workers.upsert(w.id, bob.id, w.id, 1, w.key.publicKey)
    logs = []
    lifecycle = new Lifecycle(store, new JobEvents(), { now: () => 50 }, DEFAULT_SETTINGS, (l) =>
      logs.push(l),
    )
  })
  afterEach(async () => {
    await closeStore(store)
  })

  describe('Lifecycle.result: only the lease holder’s reports count', () => {
    // The others are registered with their own keys and sign properly, so what refuses them here is
    // the lease, not the receipt.
    test('a result from a worker that does not hold the lease changes nothing', async () => {
      const lease = await assignedTo(workerA.id)
      await lifecycle.result(workerB.id, signedResult(workerB, lease, { exitCode: 1 }))
      await lifecycle.result(
        workerB.id,
        signedResult(workerB, lease, { outcome: 'error', exitCode: null, error: 'x' }),
      )
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'assigned',
        workerId: workerA.id,
        attempt: 1,
      })
    })

    test('a retryable error from the holder puts the job back in the queue', async () => {
      const lease = await assignedTo(workerA.id)
      await lifecycle.result(
        workerA.id,
        signedResult(workerA, lease, {
          outcome: 'error',
          exitCode: null,
          error: 'docker died',
          retryable: true,
        }),
      )
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'queued',
        workerId: null,
        error: 'docker died',
      })
    })

    test('a retryable error from a worker that does not hold the lease changes nothing', async () => {
      const lease = await assignedTo(workerA.id)
      await lifecycle.result(
        intruder.id,
        signedResult(intruder, lease, { outcome: 'error', exitCode: null, error: 'x', retryable: true }),
      )
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'assigned', workerId: workerA.id })
    })
  })

  describe('Lifecycle.result: only a receipt signed with the holder’s pinned key counts', () => {
    test('a result whose signature does not verify is refused: the job keeps running, nothing settles', async () => {
      const lease = await runningOn(workerA)
      const transfers = (await store.credits.audit()).transfers
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
        await lifecycle.result(workerA.id, { ...good, receipt })
        await expectUntouched(lease, workerA.id, transfers)
      }
      expect(logs.filter((l) => l.includes('does not verify'))).toHaveLength(forged.length)
    })

    test('a result signed with another worker’s key is refused', async () => {
      const lease = await runningOn(workerA)
      const transfers = (await store.credits.audit()).transfers
      // B's key over a body that names A, as A would send it
      await lifecycle.result(workerA.id, signedResult({ id: workerA.id, key: workerB.key }, lease))
      await expectUntouched(lease, workerA.id, transfers)
      // B's own, well-formed receipt passed off by A
      await lifecycle.result(workerA.id, {
        ...signedResult(workerA, lease),
        receipt: signedResult(workerB, lease).receipt,
      })
      await expectUntouched(lease, workerA.id, transfers)
      // A's receipt replayed by B (who does not hold the lease anyway)
      await lifecycle.result(workerB.id, signedResult(workerA, lease))
      await expectUntouched(lease, workerA.id, transfers)
    })

    test('a receipt whose body does not match the report is refused, field by field', async () => {
      const lease = await runningOn(workerA)
      const transfers = (await store.credits.audit()).transfers
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
        await lifecycle.result(workerA.id, signedResult(workerA, lease, report, body))
        await expectUntouched(lease, workerA.id, transfers)
      }
      expect(logs.filter((l) => l.includes('does not match'))).toHaveLength(mismatches.length)
      // The same report with a matching body is taken: the refusals above were the mismatches.
      await lifecycle.result(workerA.id, signedResult(workerA, lease, report))
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'succeeded', exitCode: 0 })
    })

    test('a worker without a pinned key cannot report a result', async () => {
      const legacy = testWorker('worker-legacy')
      await store.workers.upsert(legacy.id, alice.id, 'old', 1)
      const lease = await runningOn(legacy)
      const transfers = (await store.credits.audit()).transfers
      await lifecycle.result(legacy.id, signedResult(legacy, lease))
      await expectUntouched(lease, legacy.id, transfers)
      expect(logs.at(-1)).toContain('no pinned key')
    })

    test('a valid result is taken once and its receipt kept with the attempt, verifiable later', async () => {
      const lease = await runningOn(workerA)
      const transfers = (await store.credits.audit()).transfers
      const msg = signedResult(workerA, lease, { exitCode: 3, durationMs: 2500 })
      await lifecycle.result(workerA.id, msg)
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'failed',
        exitCode: 3,
        outcome: 'exited',
      })
      // settled: the worker's owner paid (a transfer), the rest released (no row), escrow empty again
      expect(await store.credits.audit()).toMatchObject({
        ok: true,
        transfers: transfers + 1,
        escrow: 0,
        escrowDue: 0,
      })
      const [attempt, ...more] = await store.leases.attemptsOf(lease.jobId)
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
      await lifecycle.result(workerA.id, msg)
      expect(await store.credits.audit()).toMatchObject({ ok: true, transfers: transfers + 1, escrow: 0 })
      expect(await store.leases.attemptsOf(lease.jobId)).toEqual([attempt!])
    })
  })

  describe('Lifecycle.release: a job handed back does not use up its tries', () => {
    test('released again and again, the job is requeued every time and its try budget grows by one', async () => {
      const job = await queued()
      expect(job.maxAttempts).toBe(3)
      for (let attempt = 1; attempt <= 5; attempt++) {
        expect((await store.leases.assign(job.id, workerA.id, 1000))?.attempt).toBe(attempt)
        await lifecycle.release(workerA.id, { jobId: job.id, attempt }, 'draining')
        expect(await store.queue.job(job.id)).toMatchObject({
          state: 'queued',
          workerId: null,
          attempt,
          maxAttempts: 3 + attempt,
        })
      }
      const outcomes = (await store.leases.attemptsOf(job.id)).map((a) => [a.attempt, a.outcome, a.reason])
      expect(outcomes).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'released', 'draining']))
      // nothing settled: only the signup grant, and the job's maximum cost still held
      expect(await store.credits.audit()).toMatchObject({ ok: true, transfers: 1, escrow: job.maxCost })
    })

    test('a release from a worker that does not hold the lease changes nothing', async () => {
      const lease = await runningOn(workerA)
      await lifecycle.release(workerB.id, lease, 'not mine')
      await lifecycle.release(workerA.id, { ...lease, attempt: 2 }, 'stale')
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'running',
        workerId: workerA.id,
        maxAttempts: 3,
      })
      expect(await store.leases.attemptsOf(lease.jobId)).toMatchObject([{ outcome: null }])
    })
  })
  describe('results of attempts assigned here need no read of their job (LeaseMemo)', () => {
    /** A job assigned to `holder` as the scheduler does it (the memo hears), then started at 10. */
    async function startedHere(holder: TestWorker): Promise<LeaseRef> {
      const job = await queued()
      const row = await store.leases.assign(job.id, holder.id, 10 ** 12)
      lifecycle.leases.assigned(row!)
      const lease = { jobId: job.id, attempt: 1 }
      expect(await store.leases.markRunning(lease, holder.id, 10)).toBe(true)
      lifecycle.started(lease, holder.id, holder.id, 10)
      return lease
    }

    /** Counts the job reads of the result path while `run` runs. */
    async function leaseReads(run: () => Promise<unknown>): Promise<number> {
      const queue = store.queue
      const read = queue.jobLease.bind(queue)
      let n = 0
      queue.jobLease = (id) => {
        n++
        return read(id)
      }
      try {
        await run()
      } finally {
        queue.jobLease = read
      }
      return n
    }

    test('the result is billed as the row says, without reading it; a repeat reads and is acknowledged', async () => {
      const known = await startedHere(workerA)
      const read = await runningOn(workerA) // assigned without the memo: the row is read
      const result = (lease: LeaseRef) => signedResult(workerA, lease, { exitCode: 0, durationMs: 30 })
      expect(
        await leaseReads(async () =>
          expect(await lifecycle.result(workerA.id, result(known))).toEqual({ accepted: true }),
        ),
      ).toBe(0)
      expect(
        await leaseReads(async () =>
          expect(await lifecycle.result(workerA.id, result(read))).toEqual({ accepted: true }),
        ),
      ).toBe(1)
      const [a, b] = [await store.queue.job(known.jobId), await store.queue.job(read.jobId)]
      expect(a).toMatchObject({ state: 'succeeded', startedAt: 10 })
      expect({ cost: a!.cost, billedMs: a!.billedMs }).toEqual({ cost: b!.cost, billedMs: b!.billedMs })
      // The worker did not hear the ack and sends it again: the same receipt is acknowledged again.
      const again = await store.leases.attemptsOf(known.jobId)
      expect(
        await lifecycle.result(workerA.id, {
          ...result(known),
          receipt: { body: again[0]!.receipt!, signature: again[0]!.signature! },
        }),
      ).toEqual({ accepted: true })
      expect(await store.credits.audit()).toMatchObject({ ok: true })
    })

    test('a repeat of a result another coordinator took is acknowledged, though this one remembered the attempt', async () => {
      const lease = await startedHere(workerA)
      const result = signedResult(workerA, lease, { exitCode: 0 })
      // The other coordinator: another lifecycle on the same store.
      const other = new Lifecycle(store, new JobEvents(), { now: () => 60 }, DEFAULT_SETTINGS, () => {})
      expect(await other.result(workerA.id, result)).toEqual({ accepted: true })
      expect(await lifecycle.result(workerA.id, result)).toEqual({ accepted: true })
      expect(await store.credits.audit()).toMatchObject({ ok: true })
    })

    test('a retryable error for an attempt requeued elsewhere is refused, not acknowledged', async () => {
      const lease = await startedHere(workerA)
      await store.leases.requeue(lease, 'lease expired', 40)
      const verdict = await lifecycle.result(
        workerA.id,
        signedResult(workerA, lease, { outcome: 'error', exitCode: null, error: 'x', retryable: true }),
      )
      expect(verdict).toMatchObject({ accepted: false, code: 'lease_not_held' })
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'queued', attempt: 1 })
    })

    test('an attempt cancelled by another coordinator is refused though this one remembers it', async () => {
      const lease = await startedHere(workerA)
      // Another coordinator's cancel: straight to the store, this lifecycle hears nothing.
      await store.leases.cancel(lease.jobId, 40, () => ({ cost: 0, billedMs: 0 }))
      const before = (await store.credits.audit()).transfers
      const verdict = await lifecycle.result(workerA.id, signedResult(workerA, lease, { exitCode: 0 }))
      expect(verdict).toMatchObject({ accepted: false, code: 'lease_not_held' })
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'cancelled' })
      expect(await store.credits.audit()).toMatchObject({ ok: true, transfers: before })
    })

    test('a job submitted --after one running here starts at its end, not at the next sweep', async () => {
      const lease = await startedHere(workerA)
      const [child] = await lifecycle.submitBatch(alice, { ...REQUEST, after: [lease.jobId] })
      expect(child!.held).toBe(true)
      expect(await lifecycle.result(workerA.id, signedResult(workerA, lease, { exitCode: 0 }))).toEqual({
        accepted: true,
      })
      expect(await store.queue.job(child!.id)).toMatchObject({ state: 'queued', held: false })
    })
  })
})

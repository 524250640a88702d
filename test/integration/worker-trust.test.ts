import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import { newSigningKey } from '../../src/protocol/receipt'
import { CloseCode, type LeaseRef } from '../../src/protocol/worker'
import {
  connect,
  connectWorker,
  hello,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'

// Over real sockets: pinned worker keys, signed results, drain, release and reconnects.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

async function start() {
  current = await startTestCoordinator()
  return current
}

const workerA = testWorker('worker-trust-a')
const workerB = testWorker('worker-trust-b')

/** Submits a job, waits for `c` to be assigned it and marks it running; returns its lease. */
async function runningOn(t: TestCoordinator, c: RawWorker): Promise<LeaseRef> {
  const id = await t.submit()
  const { job } = await c.next('job.assign')
  expect(job).toMatchObject({ jobId: id, attempt: 1 })
  const lease = { jobId: id, attempt: 1 }
  c.send({ type: 'job.started', lease })
  await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
  return lease
}

describe('worker keys are pinned to worker ids', () => {
  test('a hello with another key for a pinned id gets worker_key_mismatch and close 4403', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA)
    expect((await t.coord.store.workers.get(workerA.id))?.publicKey).toBe(workerA.key.publicKey)
    const impostor = { id: workerA.id, key: newSigningKey() }
    const tryAs = async () => {
      const c = connect(t.coord.wsPort, t.token)
      expect(await c.opened).toBe(true)
      c.send(hello(impostor))
      expect(await c.next('error')).toMatchObject({ code: 'worker_key_mismatch' })
      expect(await c.closed).toEqual({ code: CloseCode.forbidden, reason: 'worker_key_mismatch' })
      expect(c.got.filter((m) => m.type === 'welcome')).toEqual([])
    }
    await tryAs()
    // the impostor did not replace the pinned worker, nor change its key
    expect(a.ws.readyState).toBe(WebSocket.OPEN)
    expect(t.coord.hub.connected().map((c) => c.id)).toEqual([workerA.id])
    expect((await t.coord.store.workers.get(workerA.id))?.publicKey).toBe(workerA.key.publicKey)
    // nor can it take the id once the real worker has gone
    a.ws.close()
    await a.closed
    await tryAs()
    expect(t.coord.hub.connected()).toEqual([])
    // the real key still gets in
    const back = await connectWorker(t, workerA)
    expect(t.coord.hub.connected().map((c) => c.id)).toEqual([workerA.id])
    back.ws.close()
  })
})

describe('results over the socket', () => {
  test('a result signed with another key is refused: the job keeps running, nothing settles', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA)
    const lease = await runningOn(t, a)
    const transfers = (await t.coord.store.credits.audit()).transfers
    a.send(signedResult({ id: workerA.id, key: workerB.key }, lease))
    // refused for good, not acknowledged: an honest worker would otherwise forget a result never taken
    expect(await a.next('job.refused')).toMatchObject({ lease, code: 'bad_receipt', retry: false })
    expect(a.got.filter((m) => m.type === 'job.ack')).toEqual([])
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({
      state: 'running',
      workerId: workerA.id,
    })
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true, transfers })
    // the right key then settles it
    a.send(signedResult(workerA, lease))
    await a.next('job.ack')
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({ state: 'succeeded' })
    // its pay (the rest of the hold goes back with no row), and nothing left in escrow
    expect(await t.coord.store.credits.audit()).toMatchObject({
      ok: true,
      transfers: transfers + 1,
      escrow: 0,
    })
  })

  test('a refused result does not free the slot the job still holds', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA) // one slot
    const lease = await runningOn(t, a)
    a.send(signedResult({ id: workerA.id, key: workerB.key }, lease))
    await a.next('job.refused')
    const second = await t.submit()
    await Bun.sleep(200)
    expect(a.got.filter((m) => m.type === 'job.assign')).toEqual([])
    expect((await t.coord.store.queue.job(second))?.state).toBe('queued')
  })

  test('the same valid result replayed 20 times at once makes one transition and one settlement', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA)
    const lease = await runningOn(t, a)
    const before = (await t.coord.store.credits.audit()).transfers
    const finish = spyOn(t.coord.store.leases, 'finish')
    const result = signedResult(workerA, lease, { exitCode: 0, durationMs: 1500 })
    for (let i = 0; i < 20; i++) a.send(result)
    for (let i = 0; i < 20; i++) await a.next('job.ack')
    // the repeats are known for what they are before the store is asked (or the signature checked)
    expect(finish).toHaveBeenCalledTimes(1)
    const settled = await Promise.all(finish.mock.results.map((r) => r.value))
    expect(settled.filter((v) => v === true)).toHaveLength(1)
    // one pay (the rest of the hold is released, which writes no row), and escrow empty again
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true, transfers: before + 1, escrow: 0 })
    expect(a.got.filter((m) => m.type === 'error')).toEqual([])
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({ state: 'succeeded', exitCode: 0 })
    expect(await t.coord.store.leases.attemptsOf(lease.jobId)).toMatchObject([
      { attempt: 1, outcome: 'exited', receipt: result.receipt.body, signature: result.receipt.signature },
    ])
  })
})

describe('drain and release', () => {
  test('a draining worker gets no new jobs: a job submitted afterwards waits for another worker', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA)
    a.send({ type: 'drain' })
    await until(() => t.coord.hub.connected()[0]?.draining === true, 'worker A drains')
    const id = await t.submit()
    await Bun.sleep(300)
    const waiting = await t.job(id)
    expect(waiting).toMatchObject({ state: 'queued', attempt: 0 })
    expect(waiting.waiting).toContain('draining')
    expect(a.got.filter((m) => m.type === 'job.assign')).toEqual([])
    const b = await connectWorker(t, workerB)
    expect(await b.next('job.assign')).toMatchObject({ job: { jobId: id, attempt: 1 } })
    expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'assigned', workerId: workerB.id })
    expect(a.got.filter((m) => m.type === 'job.assign')).toEqual([])
  })

  test('job.release requeues the job without using a try: the next assignment is attempt 2', async () => {
    const t = await start()
    const a = await connectWorker(t, workerA)
    const lease = await runningOn(t, a)
    const transfers = (await t.coord.store.credits.audit()).transfers
    a.send({ type: 'drain' })
    a.send({ type: 'job.release', lease, reason: 'worker raw stopped (drain timeout)' })
    await until(
      async () => (await t.coord.store.queue.job(lease.jobId))?.state === 'queued',
      'the job is requeued',
    )
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({
      attempt: 1,
      workerId: null,
      maxAttempts: 4,
    })
    const b = await connectWorker(t, workerB)
    expect(await b.next('job.assign')).toMatchObject({ job: { jobId: lease.jobId, attempt: 2 } })
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({
      attempt: 2,
      workerId: workerB.id,
      maxAttempts: 4,
    })
    expect(await t.coord.store.leases.attemptsOf(lease.jobId)).toMatchObject([
      { attempt: 1, workerId: workerA.id, outcome: 'released', reason: 'worker raw stopped (drain timeout)' },
      { attempt: 2, workerId: workerB.id, outcome: null, endedAt: null },
    ])
    expect(a.got.filter((m) => m.type === 'job.assign')).toEqual([])
    // nothing settled: the job is not over
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true, transfers })
  })
})

describe('reconnecting', () => {
  test('a hello without a lease the worker holds requeues it at once (attempt outcome lost)', async () => {
    const t = await start() // leases last 30 s: whatever happens within the test is not expiry
    const a = await connectWorker(t, workerA)
    const lease = await runningOn(t, a)
    // back with the job still running: it keeps it
    const again = await connectWorker(t, workerA, [lease])
    expect((await a.closed).code).toBe(CloseCode.replaced)
    expect(await t.coord.store.queue.job(lease.jobId)).toMatchObject({
      state: 'running',
      attempt: 1,
      workerId: workerA.id,
    })
    expect(again.got.filter((m) => m.type === 'job.cancel' || m.type === 'job.assign')).toEqual([])
    // back without it (it restarted): requeued now, and offered again under attempt 2
    const restarted = await connectWorker(t, workerA, [])
    expect(await restarted.next('job.assign')).toMatchObject({ job: { jobId: lease.jobId, attempt: 2 } })
    expect(await t.coord.store.leases.attemptsOf(lease.jobId)).toMatchObject([
      { attempt: 1, outcome: 'lost', reason: expect.stringContaining('reconnected without the job') },
      { attempt: 2, outcome: null },
    ])
    expect((await t.coord.store.queue.job(lease.jobId))?.maxAttempts).toBe(3)
  })
})

import { afterEach, describe, expect, test } from 'bun:test'
import type { LeaseRef } from '../../src/protocol/worker'
import {
  connectWorker,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
} from '../support/coordinator'
import { signedResult, testWorker, type TestWorker } from '../support/worker-keys'

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

/** Heartbeats closer together than a quarter of the interval are ignored: 100 ms keeps tests quick. */
const BEAT_MS = 100

async function start() {
  current = await startTestCoordinator({ heartbeatMs: BEAT_MS })
  return current
}

/** Sends a heartbeat once the last one can no longer be ignored as too soon. */
async function beat(c: RawWorker, running: LeaseRef[]): Promise<void> {
  await Bun.sleep(BEAT_MS)
  c.send({ type: 'heartbeat', running })
}

/** A job assigned to `worker`, run and reported: its lease, acknowledged once. */
async function runOne(t: TestCoordinator, c: RawWorker, worker: TestWorker): Promise<LeaseRef> {
  await t.submit()
  const assign = await c.next('job.assign')
  const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
  c.send({ type: 'job.started', lease })
  c.send(signedResult(worker, lease, { durationMs: 5 }))
  await c.next('job.ack')
  return lease
}

/** Counts the store's lease reads and renewals from now on. */
function countLeaseQueries(t: TestCoordinator): { renew: number; leasesOf: number } {
  const counts = { renew: 0, leasesOf: 0 }
  const leases = t.coord.store.leases
  const renew = leases.renew.bind(leases)
  const leasesOf = leases.leasesOf.bind(leases)
  leases.renew = (...a) => (counts.renew++, renew(...a))
  leases.leasesOf = (...a) => (counts.leasesOf++, leasesOf(...a))
  return counts
}

describe('heartbeats and leases', () => {
  test('a heartbeat listing a settled lease (its ack still on the way) gets the ack again, not a cancel', async () => {
    const t = await start()
    const worker = testWorker('beat-settled')
    const c = await connectWorker(t, worker)
    const lease = await runOne(t, c, worker)
    expect((await t.job(lease.jobId)).state).toBe('succeeded')
    // As a worker does whose heartbeat left before the ack arrived.
    await beat(c, [lease])
    expect(await c.next('job.ack')).toEqual({ type: 'job.ack', lease })
    await beat(c, [])
    await Bun.sleep(200)
    expect(c.got.filter((m) => m.type === 'job.cancel')).toEqual([])
    expect((await t.job(lease.jobId)).state).toBe('succeeded')
  })

  test('a heartbeat listing a lease that was never this worker’s still gets the cancel', async () => {
    const t = await start()
    const other = testWorker('beat-other')
    const o = await connectWorker(t, other)
    const theirs = await runOne(t, o, other)
    o.ws.close()
    const worker = testWorker('beat-liar')
    const c = await connectWorker(t, worker)
    // Another worker's settled attempt, and a job that does not exist: neither is this worker's.
    const none = { jobId: 'no-such-job-0001', attempt: 1 }
    await beat(c, [theirs, none])
    const cancels = [await c.next('job.cancel'), await c.next('job.cancel')]
    expect(cancels.map((m) => m.lease).sort((a, b) => a.jobId.localeCompare(b.jobId))).toEqual(
      [theirs, none].sort((a, b) => a.jobId.localeCompare(b.jobId)),
    )
    expect(cancels.every((m) => m.reason === 'lease no longer valid')).toBe(true)
    expect(c.got.filter((m) => m.type === 'job.ack')).toEqual([])
  })

  test("an idle worker's heartbeat touches no database; a busy one's renews its lease in one call", async () => {
    const t = await start()
    const worker = testWorker('beat-cheap')
    const c = await connectWorker(t, worker)
    const counts = countLeaseQueries(t)
    for (let i = 0; i < 5; i++) await beat(c, [])
    await Bun.sleep(200)
    expect(counts).toEqual({ renew: 0, leasesOf: 0 })
    // Busy: a running job, listed at every beat.
    await t.submit()
    const assign = await c.next('job.assign')
    const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
    c.send({ type: 'job.started', lease })
    const before = (await t.coord.store.queue.job(lease.jobId))!.leaseExpiresAt!
    const busy = { ...counts }
    for (let i = 0; i < 3; i++) await beat(c, [lease])
    await Bun.sleep(200)
    expect(counts.renew - busy.renew).toBe(3)
    expect(counts.leasesOf - busy.leasesOf).toBe(0)
    expect((await t.coord.store.queue.job(lease.jobId))!.leaseExpiresAt!).toBeGreaterThan(before)
    c.send(signedResult(worker, lease, { durationMs: 5 }))
    await c.next('job.ack')
  })
})

import { afterEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { costOf, DEFAULT_PRICE } from '../../src/coordinator/pricing'
import type { Settings } from '../../src/coordinator/settings'
import { exitCodeOf, summary } from '../../src/cli/render'
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

// A hostile worker over a real socket: it lies about time, size and rate, and the coordinator
// believes none of it.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

async function start(settings: Partial<Settings> = {}) {
  current = await startTestCoordinator(settings)
  return current
}

const liar = testWorker('worker-abuse-liar')
const honest = testWorker('worker-abuse-honest')

/** Submits a command job as alice with these limits; returns its id. */
async function submit(t: TestCoordinator, spec: { timeoutMs: number; cpus: number }): Promise<string> {
  const res = await t.post(
    '/api/jobs',
    { image: 'img', command: ['true'], memoryBytes: 64 * 1024 ** 2, ...spec },
    t.token,
  )
  if (res.status !== 201) throw new Error(`submit: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { id: string }).id
}

/** Waits for `c` to be assigned job `id` (attempt 1) and, unless told not to, marks it started. */
async function takes(t: TestCoordinator, c: RawWorker, id: string, started = true): Promise<LeaseRef> {
  expect(await c.next('job.assign')).toMatchObject({ job: { jobId: id, attempt: 1 } })
  const lease = { jobId: id, attempt: 1 }
  if (started) {
    c.send({ type: 'job.started', lease })
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
  }
  return lease
}

describe('billing by the time the coordinator saw', () => {
  test('a worker that answers at once claiming the whole timeout is paid for the time that passed', async () => {
    const t = await start()
    const c = await connectWorker(t, liar)
    // Ten minutes at 1 CPU: 10 credits in escrow, all of which the worker claims.
    const id = await submit(t, { timeoutMs: 600_000, cpus: 1 })
    const lease = await takes(t, c, id)
    const sent = Date.now()
    c.send(signedResult(liar, lease, { durationMs: 600_000 }))
    await c.next('job.ack')
    const elapsed = Date.now() - sent
    const job = await t.job(id)
    expect(job).toMatchObject({ state: 'succeeded', maxCostMc: 10_000 })
    // The worker's signed measure is kept as its claim; the bill is what the coordinator saw.
    expect(job.usage?.wallMs).toBe(600_000)
    expect(job.billedMs).not.toBeNull()
    expect(job.billedMs!).toBeLessThan(5_000)
    expect(job.costMc).toBe(costOf(1, job.billedMs!, DEFAULT_PRICE))
    expect(job.costMc!).toBeLessThanOrEqual(costOf(1, 5_000, DEFAULT_PRICE))
    // gridx status shows the time billed beside the worker's wall time
    expect(summary(job)).toContain(`paid for ${(job.billedMs! / 1000).toFixed(2)} s billed`)
    expect(summary(job)).toContain('wall 600.00 s')
    console.log(
      `instant result claiming 600 s: billed ${job.billedMs} ms (${job.costMc} mc), elapsed ${elapsed} ms`,
    )
  })

  test('without a job.started the time runs from the assignment; never past the timeout', async () => {
    const t = await start()
    const c = await connectWorker(t, liar)
    const id = await submit(t, { timeoutMs: 60_000, cpus: 2 })
    const lease = await takes(t, c, id, false)
    await Bun.sleep(1200)
    c.send(signedResult(liar, lease, { durationMs: 59_000 }))
    await c.next('job.ack')
    const job = await t.job(id)
    expect(job.billedMs!).toBeGreaterThanOrEqual(1200)
    expect(job.billedMs!).toBeLessThan(10_000)
    expect(job.costMc).toBe(costOf(2, job.billedMs!, DEFAULT_PRICE))
  })

  test('a request below 0.01 CPU is refused, saying the minimum; 0.01 CPU costs something', async () => {
    const t = await start()
    const tiny = await t.post(
      '/api/jobs',
      {
        image: 'img',
        command: ['true'],
        memoryBytes: 64 * 1024 ** 2,
        timeoutMs: 7 * 86_400_000,
        cpus: 0.0004,
      },
      t.token,
    )
    expect(tiny.status).toBe(400)
    const body = (await tiny.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('bad_request')
    expect(body.error.message).toContain('at least 0.01')
    const c = await connectWorker(t, liar)
    const id = await submit(t, { timeoutMs: 60_000, cpus: 0.01 })
    expect((await t.job(id)).maxCostMc).toBeGreaterThan(0)
    const lease = await takes(t, c, id)
    await Bun.sleep(50)
    c.send(signedResult(liar, lease, { durationMs: 40 }))
    await c.next('job.ack')
    expect((await t.job(id)).costMc).toBe(1)
  })
})

describe('deadlines the coordinator keeps itself', () => {
  test('a job whose worker goes quiet but keeps heartbeating ends as timeout at its deadline', async () => {
    const t = await start({ deadlineGraceMs: 300, sweepMs: 50, heartbeatMs: 200 })
    const c = await connectWorker(t, liar)
    const id = await submit(t, { timeoutMs: 1000, cpus: 1 })
    const lease = await takes(t, c, id)
    const startedAt = Date.now()
    const beat = setInterval(() => c.send({ type: 'heartbeat', running: [lease] }), 100)
    try {
      expect(await c.next('job.cancel', 10_000)).toMatchObject({ lease })
      const endedAfter = Date.now() - startedAt
      const job = await t.job(id)
      expect(job).toMatchObject({ state: 'failed', outcome: 'timeout', billedMs: 1000 })
      expect(job.error).toContain('the coordinator stopped it')
      expect(exitCodeOf(job)).toBe(124)
      // Paid the timeout, no more, in the same transaction as the final state.
      expect(job.costMc).toBe(costOf(1, 1000, DEFAULT_PRICE))
      expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
      expect(endedAfter).toBeGreaterThanOrEqual(1000)
      console.log(`deadline: a 1 s job with a 0.3 s grace ended ${endedAfter} ms after its start`)
      // Its late result earns nothing and is refused for good.
      c.send(signedResult(liar, lease, { durationMs: 900 }))
      expect(await c.next('job.refused')).toMatchObject({ lease, code: 'lease_not_held', retry: false })
      expect((await t.job(id)).costMc).toBe(costOf(1, 1000, DEFAULT_PRICE))
    } finally {
      clearInterval(beat)
    }
  })

  test('a job assigned but never started is taken back at timeout + start allowance and requeued', async () => {
    const t = await start({ startAllowanceMs: 300, sweepMs: 50, heartbeatMs: 200 })
    const c = await connectWorker(t, liar)
    const id = await submit(t, { timeoutMs: 1000, cpus: 1 })
    const lease = await takes(t, c, id, false)
    const beat = setInterval(() => c.send({ type: 'heartbeat', running: [lease] }), 100)
    try {
      expect(await c.next('job.cancel', 10_000)).toMatchObject({ lease })
      // A loss of the platform: offered again (to the only worker there is), nothing paid.
      expect(await c.next('job.assign')).toMatchObject({ job: { jobId: id, attempt: 2 } })
      expect((await t.coord.store.leases.attemptsOf(id))[0]).toMatchObject({
        outcome: 'lost',
        reason: expect.stringContaining('did not start the job'),
      })
      expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'assigned', attempt: 2, cost: null })
    } finally {
      clearInterval(beat)
    }
  })
})

describe('bounds on what a worker claims', () => {
  const refusedHello = async (t: TestCoordinator, change: Record<string, unknown>) => {
    const c = connect(t.coord.wsPort, t.token)
    expect(await c.opened).toBe(true)
    c.send({ ...hello(liar), ...change })
    expect(await c.next('error')).toMatchObject({ code: 'bad_message' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
    expect(c.got.filter((m) => m.type === 'welcome')).toEqual([])
  }

  test('a hello claiming 1e308 CPUs (or other impossible numbers) is refused and takes nothing', async () => {
    const t = await start()
    const queued = await Promise.all([1, 2, 3].map(() => t.submit()))
    await refusedHello(t, { cpus: 1e308 })
    await refusedHello(t, { memoryBytes: 2 ** 60 })
    await refusedHello(t, { version: 'v'.repeat(10_000) })
    await refusedHello(t, {
      running: Array.from({ length: 5000 }, (_, i) => ({ jobId: `j${i}`, attempt: 1 })),
    })
    await refusedHello(t, { policy: { maxTimeoutMs: 1e15, images: ['*'], workdirBytes: null } })
    expect(t.coord.hub.connected()).toEqual([])
    for (const id of queued) expect((await t.coord.store.queue.job(id))?.state).toBe('queued')
  })

  test('output that is not strict base64 is refused, and nothing of it is stored', async () => {
    const t = await start()
    const c = await connectWorker(t, liar)
    const id = await t.submit()
    const lease = await takes(t, c, id)
    c.send({ type: 'job.output', lease, seq: 0, stream: 'stdout', dataBase64: 'not base64 at all!' })
    expect(await c.next('error')).toMatchObject({ code: 'bad_message' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
    expect(await t.coord.store.leases.output(id, 1, -1)).toEqual([])
    expect((await t.coord.store.queue.job(id))?.outputBytes).toBe(0)
  })
})

describe('results the coordinator does not take are refused, not acknowledged', () => {
  test('a bad signature, a lease that is not the worker’s, and /out files that never came', async () => {
    const t = await start()
    const c = await connectWorker(t, liar)
    const id = await t.submit()
    const lease = await takes(t, c, id)
    c.send(signedResult({ id: liar.id, key: honest.key }, lease))
    expect(await c.next('job.refused')).toMatchObject({ lease, code: 'bad_receipt', retry: false })
    c.send(signedResult(liar, { ...lease, attempt: 7 }))
    expect(await c.next('job.refused')).toMatchObject({ code: 'lease_not_held', retry: false })
    const o = { sha256: 'e'.repeat(64), bytes: 1, files: 1 }
    c.send(signedResult(liar, lease, { outputs: o }, { outputsSha256: o.sha256 }))
    expect(await c.next('job.refused')).toMatchObject({ lease, code: 'outputs_missing', retry: false })
    expect(c.got.filter((m) => m.type === 'job.ack')).toEqual([])
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
  })
})

describe('a per-socket budget of messages', () => {
  test('a heartbeat flood closes that one socket (4429); another worker keeps its job, /health stays quick', async () => {
    const t = await start()
    const good = await connectWorker(t, honest)
    const id = await t.submit()
    const lease = await takes(t, good, id)
    // The flood comes from another process, as an attacker's would, as fast as it can for 5 s.
    const flooder = Bun.spawn([process.execPath, join(import.meta.dir, '../support/flood-worker.ts')], {
      env: {
        ...process.env,
        FLOOD_PORT: String(t.coord.wsPort),
        FLOOD_TOKEN: t.token,
        FLOOD_WORKER: liar.id,
      },
      stdout: 'pipe',
    })
    const report = new Response(flooder.stdout).text()
    await until(() => t.coord.hub.connected().some((w) => w.id === liar.id), 'the flooder is welcomed')
    const healthMs: number[] = []
    const began = performance.now()
    while (performance.now() - began < 3000) {
      const t0 = performance.now()
      const res = await fetch(`${t.base}/health`)
      expect(res.status).toBe(200)
      healthMs.push(performance.now() - t0)
      await Bun.sleep(50)
    }
    await flooder.exited
    const flood = JSON.parse(await report) as { sent: number; ms: number; code: number; reason: string }
    expect(flood).toMatchObject({ code: CloseCode.overBudget, reason: 'over the message budget' })
    expect(Math.max(...healthMs)).toBeLessThan(1000)
    // The other worker kept its socket and its job; the flooder is gone.
    expect(good.ws.readyState).toBe(WebSocket.OPEN)
    expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'running', workerId: honest.id })
    expect(t.coord.hub.connected().map((w) => w.id)).toEqual([honest.id])
    good.send(signedResult(honest, lease))
    await good.next('job.ack')
    console.log(
      `flood: ${flood.sent} heartbeats (~${Math.round(flood.sent / (flood.ms / 1000))}/s) before the 4429 close after ${Math.round(flood.ms)} ms; /health max ${Math.round(Math.max(...healthMs))} ms, median ${Math.round(healthMs.sort((a, b) => a - b)[healthMs.length >> 1]!)} ms over ${healthMs.length} probes`,
    )
  })
})

import { afterEach, describe, expect, test } from 'bun:test'
import type { Settings } from '../../src/coordinator/settings'
import type { OutputEvent } from '../../src/protocol/api'
import { connectWorker, startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, testWorker } from '../support/worker-keys'

// Two real coordinators on one real PostgreSQL database are one grid: what happens through one is
// acted on by the other, through the database alone.

let open: TestCoordinator[] = []
afterEach(async () => {
  for (const c of open.reverse()) await c.stop().catch(() => {})
  open = []
})

async function grid(n = 2, logs?: string[][], settings: Partial<Settings> = {}): Promise<TestCoordinator[]> {
  const database = await freshDatabase()
  const coords: TestCoordinator[] = []
  for (let i = 0; i < n; i++) {
    const lines: string[] = []
    logs?.push(lines)
    const c = await startTestCoordinator(
      { sweepMs: 200, ...settings },
      { database, log: (l) => void lines.push(l) },
    )
    coords.push(c)
    open.push(c)
  }
  return coords
}

/** Reads a followed output stream until its end line; returns the text written and the end. */
async function follow(t: TestCoordinator, id: string): Promise<{ text: string; lines: OutputEvent[] }> {
  const res = await fetch(`${t.base}/api/jobs/${id}/output?follow=1`, {
    headers: { authorization: `Bearer ${t.token}` },
  })
  const lines = (await res.text())
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as OutputEvent)
  const text = lines
    .map((e) => (e.type === 'output' ? Buffer.from(e.data, 'base64').toString() : ''))
    .join('')
  return { text, lines }
}

describe('several coordinators on one PostgreSQL', () => {
  test('a job submitted through A runs on a worker connected to B; A follows its output whole and sees it settle', async () => {
    const [a, b] = await grid()
    const worker = testWorker('worker-grid-1')
    const ws = await connectWorker(b!, worker)
    const id = await a!.submit()
    const { job } = await ws.next('job.assign', 10_000)
    expect(job.jobId).toBe(id)
    const lease = { jobId: id, attempt: 1 }
    const followed = follow(a!, id)
    ws.send({ type: 'job.started', lease })
    for (let seq = 0; seq < 50; seq++) {
      const data = Buffer.from(`line ${seq}\n`).toString('base64')
      ws.send({ type: 'job.output', lease, seq, stream: 'stdout', dataBase64: data })
    }
    await until(
      async () => (await b!.coord.store.leases.output(id, 1, -1)).length === 50,
      'all output stored',
    )
    ws.send(signedResult(worker, lease, { exitCode: 0, durationMs: 1000 }))
    await ws.next('job.ack')
    const { text, lines } = await followed
    expect(text).toBe(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''))
    expect(lines.at(-1)).toMatchObject({ type: 'end', job: { state: 'succeeded', exitCode: 0 } })
    expect(await a!.coord.store.credits.audit()).toMatchObject({ ok: true })
    expect(await b!.coord.store.credits.audit()).toEqual(await a!.coord.store.credits.audit())
  })

  test('a cancel through A reaches the worker connected to B at once', async () => {
    const [a, b] = await grid()
    const worker = testWorker('worker-grid-2')
    const ws = await connectWorker(b!, worker)
    const id = await a!.submit()
    await ws.next('job.assign', 10_000)
    ws.send({ type: 'job.started', lease: { jobId: id, attempt: 1 } })
    await until(async () => (await a!.coord.store.queue.job(id))?.state === 'running', 'running')
    const res = await a!.post(`/api/jobs/${id}/cancel`, {}, a!.token)
    expect(res.status).toBe(200)
    const cancel = await ws.next('job.cancel', 5000)
    expect(cancel.lease).toEqual({ jobId: id, attempt: 1 })
    expect((await b!.coord.store.queue.job(id))?.state).toBe('cancelled')
  })

  test('one coordinator runs the sweeps; when it stops another takes over and expires a lost lease', async () => {
    const logs: string[][] = []
    const [a, b] = await grid(2, logs, { leaseMs: 1000 })
    const worker = testWorker('worker-grid-3')
    const ws = await connectWorker(b!, worker)
    const id = await b!.submit()
    await ws.next('job.assign', 10_000)
    // A started first on an empty grid and holds the election; B does not while A lives.
    expect(await a!.coord.store.leadership.hold()).toBe(true)
    expect(await b!.coord.store.leadership.hold()).toBe(false)
    // The worker goes silent; its lease runs out while A, the sweeper, is gone.
    ws.ws.close()
    await a!.stop()
    open = open.filter((c) => c !== a)
    await until(
      () => logs[1]!.includes('this coordinator runs the sweeps now'),
      'B takes over the sweeps',
      10_000,
    )
    // Taking over gives live leases two lease periods for their workers to come back, then B expires it.
    await until(
      async () => (await b!.coord.store.queue.job(id))?.state === 'queued',
      'the lost lease expires and the job is queued again',
      10_000,
    )
  })
})

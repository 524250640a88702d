import { afterEach, describe, expect, test } from 'bun:test'
import { CloseCode, type LeaseRef } from '../../src/protocol/worker'
import {
  connect,
  hello,
  startTestCoordinator,
  type RawWorker,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'

// A worker socket's frames wait only for the frames of the same lease: a lease's start, output and
// result stay in order, another lease's frames pass a slow one, and everything waits for the hello.
// A real coordinator on port 0, its SQLite file, and a raw WebSocket playing the worker.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

const worker = testWorker('worker-lanes-1')

/** Connects the worker with `slots` slots and waits for its welcome. */
async function connectWith(t: TestCoordinator, slots: number, running: LeaseRef[] = []): Promise<RawWorker> {
  const c = connect(t.coord.wsPort, t.token)
  expect(await c.opened).toBe(true)
  c.send({ ...hello(worker, running), slots })
  await c.next('welcome')
  return c
}

/** Submits `n` jobs and takes their assignments; returns their leases. */
async function assigned(t: TestCoordinator, c: RawWorker, n: number): Promise<LeaseRef[]> {
  for (let i = 0; i < n; i++) await t.submit()
  const leases: LeaseRef[] = []
  for (let i = 0; i < n; i++) {
    const a = await c.next('job.assign')
    leases.push({ jobId: a.job.jobId, attempt: a.job.attempt })
  }
  return leases
}

/** The output frame `seq` of a lease, saying `text`. */
const output = (lease: LeaseRef, seq: number, text: string) => ({
  type: 'job.output' as const,
  lease,
  seq,
  stream: 'stdout' as const,
  dataBase64: Buffer.from(text).toString('base64'),
})

/** The acks received so far, by job id. */
const acked = (c: RawWorker) => c.got.flatMap((m) => (m.type === 'job.ack' ? [m.lease.jobId] : []))

describe('frames of one lease', () => {
  test('are handled in the order they came: a start, output and result sent at once end in a succeeded job with its start and output', async () => {
    const t = (current = await startTestCoordinator())
    const c = await connectWith(t, 4)
    const leases = await assigned(t, c, 4)
    // The first lease's start is held in the store a while: its result must wait for it, not overtake it.
    const store = t.coord.store.leases
    const markRunning = store.markRunning.bind(store)
    const finish = store.finish.bind(store)
    const order: string[] = []
    let releaseStart = () => {}
    const startHeld = new Promise<void>((resolve) => (releaseStart = resolve))
    setTimeout(() => releaseStart(), 300)
    store.markRunning = async (lease, ...rest) => {
      if (lease.jobId === leases[0]!.jobId) await startHeld
      const ran = await markRunning(lease, ...rest)
      order.push(`started ${lease.jobId}`)
      return ran
    }
    store.finish = async (lease, ...rest) => {
      order.push(`result ${lease.jobId}`)
      // A result that overtook its start must not hang the test: the order already says it failed.
      releaseStart()
      return await finish(lease, ...rest)
    }
    // Every frame of every lease in one burst, the leases interleaved: nothing waits for an answer.
    for (const lease of leases) c.send({ type: 'job.started', lease })
    for (let seq = 0; seq < 3; seq++) for (const lease of leases) c.send(output(lease, seq, `line ${seq}\n`))
    for (const lease of leases) c.send(signedResult(worker, lease, { durationMs: 5 }))
    await until(() => acked(c).length === 4, 'every result acked')
    expect(c.got.filter((m) => m.type === 'job.refused' || m.type === 'job.cancel')).toEqual([])
    for (const lease of leases) {
      expect(order.indexOf(`started ${lease.jobId}`)).toBeGreaterThanOrEqual(0)
      expect(order.indexOf(`started ${lease.jobId}`)).toBeLessThan(order.indexOf(`result ${lease.jobId}`))
      const job = await t.job(lease.jobId)
      expect(job).toMatchObject({ state: 'succeeded', exitCode: 0 })
      // The start was handled before the result ended the attempt.
      expect(job.startedAt).not.toBeNull()
      const out = await fetch(`${t.base}/api/jobs/${lease.jobId}/output`, {
        headers: { authorization: `Bearer ${t.token}` },
      })
      const text = (await out.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; data?: string })
        .filter((e) => e.type === 'output')
        .map((e) => Buffer.from(e.data ?? '', 'base64').toString())
        .join('')
      expect(text).toBe('line 0\nline 1\nline 2\n')
    }
    expect((await t.coord.store.credits.audit()).ok).toBe(true)
  })
})

describe('frames of different leases', () => {
  test("do not wait for each other: a result passes another lease's output held in the store; that lease's result waits for its output", async () => {
    const t = (current = await startTestCoordinator())
    const c = await connectWith(t, 2)
    const [a, b] = (await assigned(t, c, 2)) as [LeaseRef, LeaseRef]
    c.send({ type: 'job.started', lease: a })
    c.send({ type: 'job.started', lease: b })
    await until(async () => (await t.job(a.jobId)).state === 'running', 'a running')
    await until(async () => (await t.job(b.jobId)).state === 'running', 'b running')
    // Lease a's output is held in the store until the test lets it go.
    const leases = t.coord.store.leases
    const append = leases.appendOutput.bind(leases)
    let release = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    let held = false
    leases.appendOutput = async (lease, ...rest) => {
      if (lease.jobId === a.jobId) {
        held = true
        await gate
      }
      return await append(lease, ...rest)
    }
    c.send(output(a, 0, 'slow\n'))
    await until(() => held, "a's output reached the store")
    c.send(signedResult(worker, a))
    c.send(output(b, 0, 'fast\n'))
    c.send(signedResult(worker, b))
    // b's frames go by while a's output is held; a's result waits behind its output.
    await until(() => acked(c).includes(b.jobId), 'b acked while a is held')
    expect((await t.job(b.jobId)).state).toBe('succeeded')
    await Bun.sleep(100)
    expect(acked(c)).toEqual([b.jobId])
    expect((await t.job(a.jobId)).state).toBe('running')
    release()
    await until(() => acked(c).includes(a.jobId), 'a acked once its output is stored')
    expect((await t.job(a.jobId)).state).toBe('succeeded')
    expect(c.got.filter((m) => m.type === 'job.refused' || m.type === 'job.cancel')).toEqual([])
  })
})

describe('the hello', () => {
  test('frames sent right behind it, before the welcome, wait for it instead of being refused', async () => {
    const t = (current = await startTestCoordinator())
    const first = await connectWith(t, 1)
    const [lease] = (await assigned(t, first, 1)) as [LeaseRef]
    first.ws.close()
    await first.closed
    await until(() => t.coord.hub.connected().length === 0, 'the first socket gone')
    // Back, with the lease it kept running: hello, start and result in one burst, and the hello
    // held in the store until every frame behind it has arrived.
    const hub = t.coord.hub
    const onFrame = hub.onFrame.bind(hub)
    let frames = 0
    hub.onFrame = (ws, raw) => {
      frames++
      onFrame(ws, raw)
    }
    const workers = t.coord.store.workers
    const upsert = workers.upsert.bind(workers)
    workers.upsert = async (...args) => {
      await until(() => frames >= 4, 'the frames behind the hello arrived')
      return await upsert(...args)
    }
    const c = connect(t.coord.wsPort, t.token)
    expect(await c.opened).toBe(true)
    c.send({ ...hello(worker, [lease]), slots: 1 })
    c.send({ type: 'job.started', lease })
    c.send({ type: 'heartbeat', running: [lease] })
    c.send(signedResult(worker, lease))
    await c.next('welcome')
    await until(() => acked(c).includes(lease.jobId), 'the result acked')
    expect(c.got.filter((m) => m.type === 'error' || m.type === 'job.refused')).toEqual([])
    expect(await t.job(lease.jobId)).toMatchObject({ state: 'succeeded' })
    expect((await t.job(lease.jobId)).startedAt).not.toBeNull()
    // The welcome came before anything about the frames behind the hello.
    c.send({ ...hello(worker), slots: 1 })
    expect(await c.next('error')).toMatchObject({ code: 'hello_twice' })
  })

  test("a lease's start sent before the welcome still comes before its result sent after it", async () => {
    const t = (current = await startTestCoordinator())
    const first = await connectWith(t, 1)
    const [lease] = (await assigned(t, first, 1)) as [LeaseRef]
    first.ws.close()
    await first.closed
    await until(() => t.coord.hub.connected().length === 0, 'the first socket gone')
    const hub = t.coord.hub
    const onFrame = hub.onFrame.bind(hub)
    let frames = 0
    hub.onFrame = (ws, raw) => {
      frames++
      onFrame(ws, raw)
    }
    // The hello waits for the start behind it to arrive; the start is held in the store a while.
    const workers = t.coord.store.workers
    const upsert = workers.upsert.bind(workers)
    workers.upsert = async (...args) => {
      await until(() => frames >= 2, 'the start behind the hello arrived')
      return await upsert(...args)
    }
    const leases = t.coord.store.leases
    const markRunning = leases.markRunning.bind(leases)
    const finish = leases.finish.bind(leases)
    const order: string[] = []
    let releaseStart = () => {}
    const startHeld = new Promise<void>((resolve) => (releaseStart = resolve))
    setTimeout(() => releaseStart(), 300)
    leases.markRunning = async (...args) => {
      await startHeld
      const ran = await markRunning(...args)
      order.push('started')
      return ran
    }
    leases.finish = async (...args) => {
      order.push('result')
      releaseStart()
      return await finish(...args)
    }
    const c = connect(t.coord.wsPort, t.token)
    expect(await c.opened).toBe(true)
    c.send({ ...hello(worker, [lease]), slots: 1 })
    c.send({ type: 'job.started', lease })
    await c.next('welcome')
    c.send(signedResult(worker, lease))
    await until(() => acked(c).includes(lease.jobId), 'the result acked')
    expect(order).toEqual(['started', 'result'])
    expect((await t.job(lease.jobId)).startedAt).not.toBeNull()
  })

  test('a frame before any hello is still refused and closes the socket; so does a bad hello', async () => {
    const t = (current = await startTestCoordinator())
    const early = connect(t.coord.wsPort, t.token)
    expect(await early.opened).toBe(true)
    early.send({ type: 'job.started', lease: { jobId: 'nope', attempt: 1 } })
    // The hello behind it comes too late: the socket is closed, the worker not connected.
    early.send({ ...hello(worker), slots: 1 })
    expect(await early.next('error')).toMatchObject({ code: 'hello_first' })
    expect((await early.closed).code).toBe(CloseCode.protocolError)
    expect(early.got.filter((m) => m.type === 'welcome')).toEqual([])
    const bad = connect(t.coord.wsPort, t.token)
    expect(await bad.opened).toBe(true)
    bad.send({ ...hello(worker), slots: 0 })
    expect(await bad.next('error')).toMatchObject({ code: 'bad_message' })
    expect((await bad.closed).code).toBe(CloseCode.protocolError)
    expect(t.coord.hub.connected()).toEqual([])
  })
})

import { afterEach, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { startCoordinator, type Coordinator } from '../../src/coordinator/server'
import {
  CloseCode,
  PROTOCOL_VERSION,
  type CoordinatorMessage,
  type WorkerMessage,
} from '../../src/protocol/worker'
import { tempDir } from '../e2e/harness'

let coord: Coordinator | undefined
let dir: string | undefined
afterEach(async () => {
  await coord?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
  coord = undefined
})

async function start(settings = {}) {
  dir = tempDir('hub')
  coord = startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir: dir,
    settings,
    log: () => undefined,
  })
  const base = `http://127.0.0.1:${coord.httpPort}`
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
  await post('/api/auth/register', { user: 'alice', password: 'password-123' })
  const { token } = (await (
    await post('/api/auth/login', { user: 'alice', password: 'password-123' })
  ).json()) as { token: string }
  return { base, token, post }
}

/** A raw worker socket that records what the coordinator sends. */
function connect(port: number, token?: string) {
  const ws = new WebSocket(
    `ws://127.0.0.1:${port}/ws/worker`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  )
  const got: CoordinatorMessage[] = []
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })
  })
  ws.onmessage = (e) => got.push(JSON.parse(e.data as string) as CoordinatorMessage)
  const opened = new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true)
    ws.onerror = () => resolve(false)
  })
  const send = (m: WorkerMessage | Record<string, unknown>) => ws.send(JSON.stringify(m))
  const next = async (type: CoordinatorMessage['type'], ms = 5000) => {
    const deadline = Date.now() + ms
    for (;;) {
      const i = got.findIndex((m) => m.type === type)
      if (i >= 0) return got.splice(i, 1)[0]!
      if (Date.now() > deadline) throw new Error(`no ${type} within ${ms} ms; got ${JSON.stringify(got)}`)
      await Bun.sleep(10)
    }
  }
  return { ws, got, closed, opened, send, next }
}

const hello = (workerId = 'worker-test-1'): WorkerMessage => ({
  type: 'hello',
  v: PROTOCOL_VERSION,
  workerId,
  name: 'raw',
  version: 'test',
  slots: 1,
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  docker: 'none',
  running: [],
})

describe('worker WebSocket', () => {
  test('an upgrade without a valid token is refused before it opens', async () => {
    await start()
    const noToken = connect(coord!.wsPort)
    expect(await noToken.opened).toBe(false)
    const badToken = connect(coord!.wsPort, 'gx_not-a-real-token')
    expect(await badToken.opened).toBe(false)
    const res = await fetch(`http://127.0.0.1:${coord!.wsPort}/ws/worker`, {
      headers: { authorization: 'Bearer nope' },
    })
    expect(res.status).toBe(401)
  })

  test('the HTTP port accepts the worker upgrade too', async () => {
    const { token } = await start()
    const c = connect(coord!.httpPort, token)
    expect(await c.opened).toBe(true)
    c.send(hello())
    const w = await c.next('welcome')
    expect(w).toMatchObject({ type: 'welcome', v: PROTOCOL_VERSION, workerId: 'worker-test-1' })
    c.ws.close()
  })

  test('a malformed frame gets an error frame and a protocol-error close', async () => {
    const { token } = await start()
    const c = connect(coord!.wsPort, token)
    await c.opened
    c.send({ type: 'hello', v: 99 })
    const err = await c.next('error')
    expect(err).toMatchObject({ code: 'bad_message' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
  })

  test('a message before hello is refused', async () => {
    const { token } = await start()
    const c = connect(coord!.wsPort, token)
    await c.opened
    c.send({ type: 'heartbeat', running: [] })
    expect(await c.next('error')).toMatchObject({ code: 'hello_first' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
  })

  test('a silent worker is disconnected', async () => {
    const { token } = await start({ silentMs: 300, sweepMs: 50 })
    const c = connect(coord!.wsPort, token)
    await c.opened
    c.send(hello())
    await c.next('welcome')
    const closed = await c.closed
    expect(closed.code).toBe(CloseCode.silent)
    expect(coord!.hub.connected()).toHaveLength(0)
  })

  test('a job is assigned under a lease; a report under a stale attempt changes nothing, a repeat is acked once', async () => {
    const { token, post, base } = await start()
    const c = connect(coord!.wsPort, token)
    await c.opened
    c.send(hello())
    await c.next('welcome')
    const job = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
    const created = (await (await post('/api/jobs', job, token)).json()) as { id: string }
    const assign = await c.next('job.assign')
    if (assign.type !== 'job.assign') throw new Error('unreachable')
    expect(assign.job).toMatchObject({ jobId: created.id, attempt: 1, command: ['true'] })
    const lease = { jobId: created.id, attempt: 1 }
    // stale attempt: refused silently (acked, but no transition)
    c.send({
      type: 'job.result',
      lease: { ...lease, attempt: 2 },
      outcome: 'exited',
      exitCode: 0,
      error: null,
      retryable: false,
      durationMs: 1,
    })
    await c.next('job.ack')
    const get = async () =>
      (await (
        await fetch(`${base}/api/jobs/${created.id}`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as {
        state: string
        exitCode: number | null
      }
    expect((await get()).state).toBe('assigned')
    c.send({ type: 'job.started', lease })
    c.send({
      type: 'job.output',
      lease,
      seq: 0,
      stream: 'stdout',
      dataBase64: Buffer.from('hello\n').toString('base64'),
    })
    const result: WorkerMessage = {
      type: 'job.result',
      lease,
      outcome: 'exited',
      exitCode: 4,
      error: null,
      retryable: false,
      durationMs: 5,
    }
    c.send(result)
    c.send(result)
    await c.next('job.ack')
    await c.next('job.ack')
    expect(await get()).toMatchObject({ state: 'failed', exitCode: 4 })
    // settled exactly once: grant, escrow, then one pay and one refund, however often the result came
    const transfersAfter = coord!.store.audit().transfers
    c.send(result)
    await c.next('job.ack')
    expect(coord!.store.audit()).toMatchObject({ ok: true, transfers: transfersAfter })
    expect(transfersAfter).toBeLessThanOrEqual(4)
    const out = await (
      await fetch(`${base}/api/jobs/${created.id}/output`, { headers: { authorization: `Bearer ${token}` } })
    ).text()
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: string })
    expect(lines[0]).toMatchObject({
      type: 'output',
      stream: 'stdout',
      data: Buffer.from('hello\n').toString('base64'),
    })
    expect(lines.at(-1)?.type).toBe('end')
    c.ws.close()
  })

  test('a lease that is not renewed expires and the job is offered again', async () => {
    const { token, post } = await start({ leaseMs: 400, sweepMs: 50 })
    const c = connect(coord!.wsPort, token)
    await c.opened
    c.send(hello())
    await c.next('welcome')
    const job = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
    const created = (await (await post('/api/jobs', job, token)).json()) as { id: string }
    const first = await c.next('job.assign')
    expect(first).toMatchObject({ job: { jobId: created.id, attempt: 1 } })
    // never heartbeat: the lease runs out, the holder is told to stop, and attempt 2 is offered
    expect(await c.next('job.cancel', 3000)).toMatchObject({ lease: { jobId: created.id, attempt: 1 } })
    expect(await c.next('job.assign', 3000)).toMatchObject({ job: { jobId: created.id, attempt: 2 } })
    c.ws.close()
  })
})

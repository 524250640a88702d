import { afterEach, describe, expect, test } from 'bun:test'
import { CloseCode, PROTOCOL_VERSION } from '../../src/protocol/worker'
import {
  connect,
  connectWorker,
  hello,
  startTestCoordinator,
  type TestCoordinator,
} from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

async function start(settings = {}) {
  current = await startTestCoordinator(settings)
  return current
}

const worker = testWorker('worker-test-1')

describe('worker WebSocket', () => {
  test('an upgrade without a valid token is refused before it opens', async () => {
    const { coord } = await start()
    const noToken = connect(coord.wsPort)
    expect(await noToken.opened).toBe(false)
    const badToken = connect(coord.wsPort, 'gx_not-a-real-token')
    expect(await badToken.opened).toBe(false)
    const res = await fetch(`http://127.0.0.1:${coord.wsPort}/ws/worker`, {
      headers: { authorization: 'Bearer nope' },
    })
    expect(res.status).toBe(401)
  })

  test('the HTTP port accepts the worker upgrade too', async () => {
    const { coord, token } = await start()
    const c = connect(coord.httpPort, token)
    expect(await c.opened).toBe(true)
    c.send(hello(worker))
    const w = await c.next('welcome')
    expect(w).toMatchObject({ type: 'welcome', v: PROTOCOL_VERSION, workerId: worker.id })
    c.ws.close()
  })

  test('a malformed frame gets an error frame and a protocol-error close', async () => {
    const { coord, token } = await start()
    const c = connect(coord.wsPort, token)
    await c.opened
    c.send({ type: 'hello', v: PROTOCOL_VERSION })
    const err = await c.next('error')
    expect(err).toMatchObject({ code: 'bad_message' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
  })

  test('a hello of another protocol version is told what to install, plainly, and closed', async () => {
    const { coord, token } = await start()
    expect(PROTOCOL_VERSION).toBe(2)
    for (const v of [1, 3]) {
      const c = connect(coord.wsPort, token)
      await c.opened
      c.send({ ...hello(worker), v })
      expect(await c.next('error')).toEqual({
        type: 'error',
        code: 'protocol_version',
        message: `this coordinator speaks worker protocol 2 and this worker speaks ${v}: install the same gridx release on the worker (gridx --version)`,
      })
      expect(await c.closed).toEqual({ code: CloseCode.protocolError, reason: 'protocol_version' })
    }
    expect(coord.hub.connected()).toEqual([])
  })

  test('a message before hello is refused', async () => {
    const { coord, token } = await start()
    const c = connect(coord.wsPort, token)
    await c.opened
    c.send({ type: 'heartbeat', running: [] })
    expect(await c.next('error')).toMatchObject({ code: 'hello_first' })
    expect((await c.closed).code).toBe(CloseCode.protocolError)
  })

  test('a silent worker is disconnected', async () => {
    const t = await start({ silentMs: 300, sweepMs: 50 })
    const c = await connectWorker(t, worker)
    const closed = await c.closed
    expect(closed.code).toBe(CloseCode.silent)
    expect(t.coord.hub.connected()).toHaveLength(0)
  })

  test('a job is assigned under a lease; a report under a stale attempt changes nothing, a repeat is acked once', async () => {
    const t = await start()
    const { coord, base, token } = t
    const c = await connectWorker(t, worker)
    const id = await t.submit()
    const assign = await c.next('job.assign')
    expect(assign.job).toMatchObject({ jobId: id, attempt: 1, command: ['true'] })
    const lease = { jobId: id, attempt: 1 }
    // stale attempt, though properly signed: refused for good, and no transition
    c.send(signedResult(worker, { ...lease, attempt: 2 }, { durationMs: 1 }))
    expect(await c.next('job.refused')).toMatchObject({ code: 'lease_not_held', retry: false })
    expect(c.got.filter((m) => m.type === 'job.ack')).toEqual([])
    expect((await t.job(id)).state).toBe('assigned')
    c.send({ type: 'job.started', lease })
    c.send({
      type: 'job.output',
      lease,
      seq: 0,
      stream: 'stdout',
      dataBase64: Buffer.from('hello\n').toString('base64'),
    })
    const result = signedResult(worker, lease, { exitCode: 4, durationMs: 5 })
    c.send(result)
    c.send(result)
    await c.next('job.ack')
    await c.next('job.ack')
    expect(await t.job(id)).toMatchObject({ state: 'failed', exitCode: 4 })
    // settled exactly once: the grant, then one pay, however often the result came
    const transfersAfter = (await coord.store.credits.audit()).transfers
    c.send(result)
    await c.next('job.ack')
    expect(await coord.store.credits.audit()).toMatchObject({ ok: true, transfers: transfersAfter })
    expect(transfersAfter).toBeLessThanOrEqual(2)
    const out = await (
      await fetch(`${base}/api/jobs/${id}/output`, { headers: { authorization: `Bearer ${token}` } })
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
    const t = await start({ leaseMs: 400, sweepMs: 50 })
    const c = await connectWorker(t, worker)
    const id = await t.submit()
    const first = await c.next('job.assign')
    expect(first).toMatchObject({ job: { jobId: id, attempt: 1 } })
    // never heartbeat: the lease runs out, the holder is told to stop, and attempt 2 is offered
    expect(await c.next('job.cancel', 3000)).toMatchObject({ lease: { jobId: id, attempt: 1 } })
    expect(await c.next('job.assign', 3000)).toMatchObject({ job: { jobId: id, attempt: 2 } })
    c.ws.close()
  })
})

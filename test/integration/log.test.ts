import { afterEach, describe, expect, test } from 'bun:test'
import { Logger } from '../../src/coordinator/log'
import {
  connect,
  connectWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'

// The JSON log of a real coordinator (port 0, SQLite, real WebSockets), parsed back line by line.

type Line = Record<string, unknown> & { ts: string; level: string; event: string }

let t: TestCoordinator | undefined
afterEach(async () => {
  await t?.stop()
  t = undefined
})

/** A coordinator whose JSON log is kept in memory; `lines()` parses what was written so far. */
async function withJsonLog(settings: Parameters<typeof startTestCoordinator>[0] = {}) {
  const chunks: string[] = []
  const logger = new Logger({ format: 'json', target: (c) => void chunks.push(c), writer: { flushMs: 5 } })
  t = await startTestCoordinator(settings, { logger })
  const lines = (): Line[] => {
    logger.flush()
    const text = chunks.join('')
    // Every line is one whole JSON object: nothing a worker or user sent splits one.
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line)
  }
  return { t, lines, logger }
}

const jobLines = (lines: Line[], id: string) => lines.filter((l) => l.event === 'job' && l.job === id)

describe('the JSON log of a job, a worker and refusals', () => {
  test("a job's life: queued, assigned, running, succeeded with its job, attempt, user and worker", async () => {
    const { t, lines } = await withJsonLog()
    const worker = testWorker('w-log-0001')
    const c = connectWorker(t, worker)
    const w = await c
    const id = await t.submit()
    const assign = await w.next('job.assign')
    const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
    w.send({ type: 'job.started', lease })
    w.send(signedResult(worker, lease, { durationMs: 5 }))
    await w.next('job.ack')
    await until(() => jobLines(lines(), id).length === 4, 'four job lines')
    const mine = jobLines(lines(), id)
    expect(mine.map((l) => [l.from ?? null, l.to])).toEqual([
      [null, 'queued'],
      ['queued', 'assigned'],
      ['assigned', 'running'],
      ['running', 'succeeded'],
    ])
    expect(mine.map((l) => l.attempt)).toEqual([undefined, 1, 1, 1])
    for (const l of mine) {
      expect(l).toMatchObject({ level: 'info', job: id, user: 'alice' })
      expect(Number.isNaN(Date.parse(l.ts))).toBe(false)
    }
    expect(mine.slice(1).every((l) => l.worker === 'raw')).toBe(true)
    expect(mine[0]!.worker).toBeUndefined()
    expect(mine[3]).toMatchObject({ outcome: 'exited' })
    expect(typeof mine[1]!.waited_ms).toBe('number')
    const start = lines().find((l) => l.event === 'start')
    expect(start).toMatchObject({
      engine: 'sqlite',
      tls: false,
      host: '127.0.0.1',
      http_port: t.coord.httpPort,
    })
    expect(JSON.stringify(start)).not.toContain('password')
  })

  test('a requeue after a lost lease says why; the worker leaving has its close code and reason', async () => {
    const { t, lines } = await withJsonLog({ leaseMs: 600, sweepMs: 100, silentMs: 60_000 })
    const worker = testWorker('w-log-0002')
    const w = await connectWorker(t, worker)
    const id = await t.submit()
    const assign = await w.next('job.assign')
    w.send({ type: 'job.started', lease: { jobId: assign.job.jobId, attempt: assign.job.attempt } })
    await until(() => jobLines(lines(), id).some((l) => l.to === 'running'), 'the running line')
    w.ws.close(4001, 'test worker leaves')
    await until(
      () => jobLines(lines(), id).some((l) => l.from === 'running' && l.to === 'queued'),
      'a requeue',
      15_000,
    )
    const requeue = jobLines(lines(), id).find((l) => l.to === 'queued' && l.from === 'running')!
    expect(requeue).toMatchObject({ level: 'warn', attempt: 1, user: 'alice', worker: 'raw' })
    expect(requeue.reason).toMatch(/lease expired/)
    const left = lines().find((l) => l.event === 'worker' && l.state === 'disconnected')
    expect(left).toMatchObject({
      level: 'warn',
      worker: 'raw',
      worker_id: 'w-log-0002',
      owner: 'alice',
      code: 4001,
      reason: 'test worker leaves',
    })
    const joined = lines().find((l) => l.event === 'worker' && l.state === 'connected')
    expect(joined).toMatchObject({ level: 'info', worker: 'raw', worker_id: 'w-log-0002', owner: 'alice' })
  })

  test('a refused login: status, code and the client address; a refused socket upgrade too', async () => {
    const { t, lines } = await withJsonLog()
    const res = await t.post('/api/auth/login', { user: 'alice', password: 'wrong-password' })
    expect(res.status).toBe(401)
    const code = ((await res.json()) as { error: { code: string } }).error.code
    const anon = connect(t.coord.wsPort)
    expect(await anon.opened).toBe(false)
    await until(() => lines().filter((l) => l.event === 'refused').length >= 2, 'two refused lines')
    const [login, upgrade] = lines().filter((l) => l.event === 'refused')
    expect(login).toMatchObject({
      level: 'warn',
      status: 401,
      code,
      address: '127.0.0.1',
      method: 'POST',
      path: '/api/auth/login',
    })
    expect(upgrade).toMatchObject({ level: 'warn', status: 401, address: '127.0.0.1', path: '/ws/worker' })
  })

  test("a worker's hostile error text stays on one line and parses back exactly", async () => {
    const { t, lines } = await withJsonLog()
    const worker = testWorker('w-log-0003')
    const w = await connectWorker(t, worker)
    const id = await t.submit()
    const assign = await w.next('job.assign')
    const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
    w.send({ type: 'job.started', lease })
    const hostile = 'boom\n{"ts":"x","event":"job","to":"succeeded"}\u001b[31m\u009b\u2028'
    w.send(signedResult(worker, lease, { outcome: 'error', exitCode: null, error: hostile }))
    await until(() => jobLines(lines(), id).some((l) => l.to === 'failed'), 'the failed line')
    const failed = jobLines(lines(), id).find((l) => l.to === 'failed')!
    expect(failed.reason).toBe(hostile)
    // Nothing the worker sent made a line of its own, and no raw control character reached the output.
    expect(lines().filter((l) => l.event === 'job' && l.ts === 'x')).toEqual([])
  })

  test('a coordinator stopping logs each connected worker leaving once, with 1001', async () => {
    const { t: coordinator, lines } = await withJsonLog()
    await connectWorker(coordinator, testWorker('w-log-0004'))
    await until(() => lines().some((l) => l.event === 'worker' && l.state === 'connected'), 'the connect')
    await coordinator.stop()
    t = undefined
    const left = lines().filter((l) => l.event === 'worker' && l.state === 'disconnected')
    expect(left).toHaveLength(1)
    expect(left[0]).toMatchObject({ worker_id: 'w-log-0004', code: 1001, reason: 'coordinator stopping' })
  })
})

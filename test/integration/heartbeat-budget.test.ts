import { afterEach, describe, expect, test } from 'bun:test'
import { parseCoordinator } from '../../src/client/address'
import type { Settings } from '../../src/coordinator/settings'
import { CloseCode, type LeaseRef } from '../../src/protocol/worker'
import {
  connect,
  hello,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { fakeAgent } from '../support/fake-agent'
import { signedResult, testWorker, type TestWorker } from '../support/worker-keys'

let current: TestCoordinator | undefined
const sockets: RawWorker[] = []
const timers: ReturnType<typeof setInterval>[] = []
const agents: { stop(): Promise<void> }[] = []
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  for (const t of timers.splice(0)) clearInterval(t)
  for (const s of sockets.splice(0)) s.ws.close()
  await current?.stop()
  current = undefined
})

async function start(settings: Partial<Settings>) {
  current = await startTestCoordinator(settings)
  return current
}

/**
 * A grid whose budget is 20 heartbeats a second: up to 4 workers beat at the 200 ms floor, 20
 * workers are told about 1.25 s or more, which is longer than the 800 ms of silence and the 1.2 s
 * leases a worker told the floor gets.
 */
const SMALL_BUDGET: Partial<Settings> = {
  heartbeatMs: 200,
  heartbeatsPerSecond: 20,
  maxHeartbeatMs: 10_000,
  silentMs: 800,
  leaseMs: 1_200,
  sweepMs: 50,
}

/** A raw worker that says hello (following intervals unless `old`) and waits for the welcome. */
async function join(
  t: TestCoordinator,
  worker: TestWorker,
  opts: { old?: boolean; images?: string[] } = {},
): Promise<{ c: RawWorker; welcomeMs: number }> {
  const c = connect(t.coord.wsPort, t.token)
  sockets.push(c)
  if (!(await c.opened)) throw new Error('the worker socket did not open')
  const policy = { maxTimeoutMs: null, images: opts.images ?? ['nothing-runs-here/*'], workdirBytes: null }
  c.send({ ...hello(worker), policy, ...(opts.old ? {} : { heartbeatUpdates: true }) })
  const welcome = await c.next('welcome')
  return { c, welcomeMs: welcome.heartbeatMs }
}

/** The interval a worker was told last: its welcome's, or the last `heartbeat.interval` since. */
function toldMs(c: RawWorker, welcomeMs: number): number {
  const changes = c.got.filter((m) => m.type === 'heartbeat.interval')
  return changes.at(-1)?.heartbeatMs ?? welcomeMs
}

/** Beats like the agent: at the interval it was told, re-read at every beat. */
function beatAsTold(c: RawWorker, welcomeMs: number, running: () => LeaseRef[] = () => []): void {
  const beat = () => {
    if (c.ws.readyState !== WebSocket.OPEN) return
    c.send({ type: 'heartbeat', running: running() })
    timers.push(setTimeout(beat, toldMs(c, welcomeMs)))
  }
  timers.push(setTimeout(beat, toldMs(c, welcomeMs)))
}

describe('heartbeat budget', () => {
  test('the interval a worker is told grows with the grid; connected workers are told, old ones are not', async () => {
    const t = await start(SMALL_BUDGET)
    const first = await join(t, testWorker('budget-first'))
    const old = await join(t, testWorker('budget-old'), { old: true })
    expect(first.welcomeMs).toBe(200)
    expect(old.welcomeMs).toBe(200)
    const rest = []
    for (let i = 0; i < 18; i++) rest.push(await join(t, testWorker(`budget-w${i}`)))
    const last = rest.at(-1)!
    // 20 workers at 20 beats a second: a second or more each.
    expect(last.welcomeMs).toBeGreaterThanOrEqual(1_000)
    expect(t.coord.hub.heartbeats.intervalMs).toBeGreaterThanOrEqual(1_000)
    // The first worker was told while connected; the old one (no heartbeatUpdates) never is.
    await until(() => toldMs(first.c, first.welcomeMs) >= 1_000, 'the first worker told a longer interval')
    expect(old.c.got.filter((m) => m.type === 'heartbeat.interval')).toEqual([])
    // All together within the budget (the old worker still beats at 200 ms: 5 a second of it).
    const everyone = [first, ...rest]
    const rate = everyone.reduce((n, w) => n + 1000 / toldMs(w.c, w.welcomeMs), 0) + 1000 / old.welcomeMs
    expect(rate).toBeLessThanOrEqual(20 + 5)
  })

  test('a worker beating at its told (long) interval keeps its lease and is not closed as silent', async () => {
    const t = await start(SMALL_BUDGET)
    const others = []
    for (let i = 0; i < 19; i++) others.push(await join(t, testWorker(`budget-idle${i}`)))
    const busy = testWorker('budget-busy')
    const w = await join(t, busy, { images: ['*'] })
    // Longer than the floor's silence (800 ms) and lease (1.2 s): the timeouts must follow it.
    expect(w.welcomeMs).toBeGreaterThan(1_200)
    for (const o of others) beatAsTold(o.c, o.welcomeMs)
    const id = await t.submit()
    const assign = await w.c.next('job.assign')
    const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
    expect(lease.jobId).toBe(id)
    w.c.send({ type: 'job.started', lease })
    beatAsTold(w.c, w.welcomeMs, () => [lease])
    // Three of its intervals: each longer than the floor's lease.
    await Bun.sleep(3 * toldMs(w.c, w.welcomeMs) + 500)
    expect(t.coord.hub.has(busy.id)).toBe(true)
    expect(t.coord.hub.connected()).toHaveLength(20)
    const job = await t.job(id)
    expect(job).toMatchObject({ state: 'running', attempt: 1 })
    expect(w.c.got.filter((m) => m.type === 'job.cancel')).toEqual([])
    // The lease runs as long as its interval calls for (six beats, as 30 s is to 5 s).
    const row = (await t.coord.store.queue.job(id))!
    expect(row.leaseExpiresAt! - Date.now()).toBeGreaterThan(4 * toldMs(w.c, w.welcomeMs))
    w.c.send(signedResult(busy, lease, { durationMs: 10 }))
    await w.c.next('job.ack')
  })

  test("a worker that stops beating is still closed, after its own interval's silence", async () => {
    const t = await start({ ...SMALL_BUDGET, maxHeartbeatMs: 1_500 })
    const others = []
    for (let i = 0; i < 29; i++) others.push(await join(t, testWorker(`budget-loud${i}`)))
    for (const o of others) beatAsTold(o.c, o.welcomeMs)
    const since = Date.now()
    const quiet = await join(t, testWorker('budget-quiet'))
    expect(quiet.welcomeMs).toBe(1_500)
    const closed = await quiet.c.closed
    expect(closed.code).toBe(CloseCode.silent)
    // Told 1.5 s (the ceiling): 6 s of silence, not the floor's 800 ms.
    expect(Date.now() - since).toBeGreaterThan(3_000)
    expect(t.coord.hub.connected()).toHaveLength(29)
  })

  test('a real agent told a longer interval beats at it, and stays connected', async () => {
    const t = await start(SMALL_BUDGET)
    const port = t.coord.wsPort
    const logs: string[] = []
    const agent = fakeAgent(
      {
        addr: parseCoordinator(`127.0.0.1:${port}`, { httpPort: t.coord.httpPort, wsPort: port }),
        token: () => Promise.resolve(t.token),
      },
      logs,
    )
    agents.push(agent)
    void agent.run().catch(() => undefined)
    await agent.ready
    const conn = () => t.coord.hub.connected().find((c) => c.name === 'fake')
    expect(conn()?.toldMs).toBe(200)
    for (let i = 0; i < 20; i++) {
      const w = await join(t, testWorker(`budget-grow${i}`))
      beatAsTold(w.c, w.welcomeMs)
    }
    await until(() => (conn()?.toldMs ?? 0) >= 1_000, 'the agent told a longer interval')
    const told = conn()!.toldMs
    // Its beats over three intervals: about three, not the fifteen or more of the old 200 ms.
    const beats = new Set<number>()
    const deadline = Date.now() + 3 * told
    while (Date.now() < deadline) {
      beats.add(conn()?.lastBeat ?? 0)
      await Bun.sleep(20)
    }
    expect(beats.size).toBeGreaterThanOrEqual(2)
    expect(beats.size).toBeLessThanOrEqual(6)
    expect(agent.current).toBe('ready')
    expect(conn()).toBeDefined()
  })
})

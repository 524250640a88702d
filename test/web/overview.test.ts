import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connectWorker, startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'
import { openSse } from '../support/sse'
import { webLogin } from '../support/web-session'
import { signedResult, testWorker } from '../support/worker-keys'

let t: TestCoordinator
beforeAll(async () => {
  t = await startTestCoordinator()
})
afterAll(async () => t.stop())

/** The text of the `data-field` element `name` on a page. */
function field(html: string, name: string): string | undefined {
  return new RegExp(`data-field="${name}"[^>]*>([^<]*)<`).exec(html)?.[1]
}

type Figures = Record<string, string | number[]>

describe('the overview', () => {
  test('shows the grid: workers, slots, queued, running, finished and failed, throughput, escrow', async () => {
    const s = await webLogin(t)
    let page = await (await s.get('/')).text()
    expect(field(page, 'workers')).toBe('0')
    expect(field(page, 'queued')).toBe('0')
    expect(page).toContain('role="img"')

    const live = await openSse(`${t.base}/live/overview`, { cookie: s.cookie })
    const first = await live.next<Figures>()
    expect(first).toMatchObject({ workers: '0', busy: '0', free: '0', queued: '0', finished: '0' })
    expect(first['throughput']).toHaveLength(60)

    // Three jobs wait; a worker of one slot comes: one runs, then ends; one more fails.
    const ids = [await t.submit(), await t.submit(), await t.submit()]
    const queued = await live.next<Figures>((f) => f['queued'] === '3')
    expect(queued['escrow']).not.toBe('0 credits')
    const w = testWorker('overview-worker-1')
    const c = await connectWorker(t, w)
    const changed = await live.next<Figures>((f) => f['workers'] === '1' && f['running'] === '1')
    expect(changed).toMatchObject({ slots: '1', busy: '1', free: '0', queued: '2' })
    for (const exitCode of [0, 3]) {
      const { job } = await c.next('job.assign')
      const lease = { jobId: job.jobId, attempt: job.attempt }
      c.send({ type: 'job.started', lease })
      await until(async () => (await t.coord.store.queue.job(job.jobId))?.state === 'running', 'running')
      c.send(signedResult(w, lease, { exitCode }))
      await c.next('job.ack')
    }
    const done = await live.next<Figures>((f) => f['finished'] === '2')
    expect(done).toMatchObject({ failed: '1', queued: '0', running: '1' })
    const bars = done['throughput'] as number[]
    expect(bars.reduce((a, b) => a + b, 0)).toBe(2)

    // The page drawn afresh says the same as the stream.
    page = await (await s.get('/')).text()
    for (const name of [
      'workers',
      'slots',
      'busy',
      'queued',
      'running',
      'finished',
      'failed',
      'escrow',
    ] as const) {
      if (name === 'slots') continue
      expect(field(page, name)).toBe(String(done[name]))
    }
    expect(page).toContain('2 jobs finished in the last hour')
    live.close()
    c.ws.close()
    void ids
  })

  test('the event stream delivers a worker connecting within seconds, and needs a session', async () => {
    const s = await webLogin(t)
    // The first test's worker has left.
    await until(() => t.coord.hub.connected().length === 0, 'no worker connected', 10_000)
    const live = await openSse(`${t.base}/live/overview`, { cookie: s.cookie })
    const before = await live.next<Figures>((f) => f['workers'] === '0')
    const n = Number(before['workers'])
    const started = Date.now()
    const c = await connectWorker(t, testWorker('overview-worker-2'))
    await live.next<Figures>((f) => f['workers'] === String(n + 1))
    console.log(`overview event after a worker connected: ${Date.now() - started} ms`)
    c.ws.close()
    await live.next<Figures>((f) => f['workers'] === String(n))
    live.close()
    const anon = await fetch(`${t.base}/live/overview`, { headers: { accept: 'text/event-stream' } })
    expect(anon.status).toBe(401)
  })

  test("one user's several live streams read that user's escrow once per reading", async () => {
    // Not an operator (an operator is shown the whole grid's escrow, which the reading carries).
    await t.addUser('carol', 'carol-password')
    const s = await webLogin(t, 'carol', 'carol-password')
    const user = await t.coord.store.accounts.byName('carol')
    if (!user) throw new Error('no carol')
    const credits = t.coord.store.credits
    const stats = t.coord.store.stats
    const of = credits.of.bind(credits)
    const escrowTotal = stats.escrowTotal.bind(stats)
    let escrowReads = 0
    let readings = 0
    credits.of = (id, ...rest) => {
      if (id === user.id) escrowReads++
      return of(id, ...rest)
    }
    stats.escrowTotal = () => {
      readings++
      return escrowTotal()
    }
    const streams = await Promise.all(
      [1, 2, 3, 4].map(() => openSse(`${t.base}/live/overview`, { cookie: s.cookie })),
    )
    try {
      const before = await Promise.all(streams.map((live) => live.next<Figures>()))
      // New readings: two jobs of alice's change the queue every stream shows.
      await t.submit()
      await t.submit()
      await Promise.all(
        streams.map((live, i) => live.next<Figures>((f) => f['queued'] !== before[i]?.['queued'])),
      )
    } finally {
      for (const live of streams) live.close()
      credits.of = of
      stats.escrowTotal = escrowTotal
    }
    console.log(`4 streams of one user: ${escrowReads} escrow reads over ${readings} readings`)
    expect(readings).toBeGreaterThan(0)
    // One read per reading: those counted, and the one the feed may have held from before the
    // counting began (handed to a new stream at once). Before: one per stream per reading (4x).
    expect(escrowReads).toBeLessThanOrEqual(readings + 1)
  })

  test('live streams are capped per user (429 past the cap), and given back when closed', async () => {
    const capped = await startTestCoordinator({ maxFollowsPerUser: 2 })
    try {
      const s = await webLogin(capped)
      const a = await openSse(`${capped.base}/live/overview`, { cookie: s.cookie })
      const b = await openSse(`${capped.base}/live/overview`, { cookie: s.cookie })
      await a.next()
      await b.next()
      const third = await fetch(`${capped.base}/live/overview`, { headers: { cookie: s.cookie } })
      expect(third.status).toBe(429)
      a.close()
      await until(
        async () => {
          const res = await fetch(`${capped.base}/live/overview`, { headers: { cookie: s.cookie } })
          await res.body?.cancel()
          return res.status === 200
        },
        'a closed stream is given back',
        10_000,
      )
      b.close()
    } finally {
      await capped.stop()
    }
  })
})

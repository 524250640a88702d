import { afterAll, expect, test } from 'bun:test'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { healthLatency, parseAnswer, rawConnect, type RawConn } from '../support/raw-http'

let t: TestCoordinator | undefined
const conns: RawConn[] = []
afterAll(async () => {
  for (const c of conns) c.socket.destroy()
  await t?.stop()
})

const SLOW = 500 // of each kind

test('a thousand trickling connections: /health keeps answering, and the server closes them all', async () => {
  t = await startTestCoordinator({ idleTimeoutMs: 3000 })
  const port = t.coord.httpPort
  const open = async (head: string) => {
    const c = await rawConnect(port, head)
    conns.push(c)
    c.trickle(2000) // a byte every 2 s, forever unless the server ends it
    return c
  }
  // Half trickle their headers, half (the attack that stalled the coordinator) a login's body.
  const headers: RawConn[] = []
  const bodies: RawConn[] = []
  for (let i = 0; i < SLOW; i += 50) {
    headers.push(
      ...(await Promise.all(
        Array.from({ length: 50 }, () => open('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nX-Slow: ')),
      )),
    )
    bodies.push(
      ...(await Promise.all(
        Array.from({ length: 50 }, () =>
          open('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{"user":"'),
        ),
      )),
    )
  }
  const all = [...headers, ...bodies]
  const latencies: number[] = []
  const t0 = Date.now()
  while (all.some((c) => !c.isClosed()) && Date.now() - t0 < 25_000) {
    latencies.push(await healthLatency(t.base))
    await Bun.sleep(200)
  }
  const worst = Math.max(...latencies)
  console.log(
    `/health during ${all.length} trickling connections: ${latencies.length} probes, worst ${worst.toFixed(0)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]?.toFixed(0)} ms; all closed by the server after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  )
  expect(worst).toBeLessThan(1000)
  const open_ = all.filter((c) => !c.isClosed()).length
  expect(open_).toBe(0)
  // Every body trickler got a JSON answer: 429 past the address's cap, 408 once its time ran out.
  const statuses = bodies.map((c) => parseAnswer(c.received()).status)
  const timedOut = statuses.filter((s) => s === 408).length
  const capped = statuses.filter((s) => s === 429).length
  console.log(`body tricklers: ${timedOut} cut off with 408, ${capped} refused with 429`)
  expect(timedOut + capped).toBe(SLOW)
  expect(timedOut).toBeGreaterThan(0)
  expect(timedOut).toBeLessThanOrEqual(64)
  for (const c of bodies.slice(0, 5)) {
    expect((parseAnswer(c.received()).body as { error: { message: string } }).error.message).toMatch(
      /too slowly|try again/,
    )
  }
}, 60_000)

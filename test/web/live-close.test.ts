import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { webLogin, type WebSession } from '../support/web-session'

// A live page's event stream lifts the connection's idle timeout while it is open; once it has
// ended the connection must not stay open on a lifted timeout (keep-alive forever).

let t: TestCoordinator
let alice: WebSession
beforeAll(async () => {
  t = await startTestCoordinator({ idleTimeoutMs: 2000 })
  alice = await webLogin(t)
})
afterAll(async () => t.stop())

/** A raw HTTP/1.1 GET: what arrived, and whether the server closed the connection. */
async function rawGet(path: string) {
  const state = { data: '', closed: false }
  const port = Number(new URL(t.base).port)
  const sock = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data: (_s, d) => void (state.data += d.toString()),
      close: () => void (state.closed = true),
      end: () => void (state.closed = true),
    },
  })
  sock.write(
    `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncookie: ${alice.cookie}\r\naccept: text/event-stream\r\n\r\n`,
  )
  return {
    state,
    /** Waits up to `ms` for the server to close; the bound is generous, the idle timeout is 2 s. */
    closedWithin: async (ms: number) => {
      const end = Date.now() + ms
      while (!state.closed && Date.now() < end) await Bun.sleep(50)
      return state.closed
    },
    close: () => sock.end(),
  }
}

describe('live streams and idle connections', () => {
  test("an ended job's stream ends and its connection is closed, with no-store", async () => {
    const id = await t.submit()
    expect((await t.post(`/api/jobs/${id}/cancel`, {}, t.token)).status).toBeLessThan(300)
    const conn = await rawGet(`/jobs/${id}/live`)
    try {
      expect(await conn.closedWithin(20_000)).toBe(true)
      expect(conn.state.data).toStartWith('HTTP/1.1 200')
      expect(conn.state.data).toContain('event: end')
      expect(conn.state.data.toLowerCase()).toContain('cache-control: no-store')
    } finally {
      conn.close()
    }
  })

  test('a stream that ends while open (the job is cancelled) lets its connection go', async () => {
    const id = await t.submit()
    const conn = await rawGet(`/jobs/${id}/live`)
    try {
      // Held open past the idle timeout while the job is queued (keepalives would come later).
      await Bun.sleep(3500)
      expect(conn.state.closed).toBe(false)
      expect((await t.post(`/api/jobs/${id}/cancel`, {}, t.token)).status).toBeLessThan(300)
      expect(await conn.closedWithin(20_000)).toBe(true)
      expect(conn.state.data).toContain('event: end')
    } finally {
      conn.close()
    }
  })
})

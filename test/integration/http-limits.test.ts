import { afterEach, describe, expect, test } from 'bun:test'
import { ApiClient } from '../../src/client/api'
import { parseCoordinator } from '../../src/client/address'
import type { Settings } from '../../src/coordinator/settings'
import { packArchive } from '../../src/protocol/archive'
import { connect, hello, startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { parseAnswer, rawConnect, type RawConn } from '../support/raw-http'
import { testWorker } from '../support/worker-keys'

let current: TestCoordinator | undefined
const conns: RawConn[] = []
afterEach(async () => {
  for (const c of conns.splice(0)) c.socket.destroy()
  await current?.stop()
  current = undefined
})

async function start(settings: Partial<Settings> = {}) {
  current = await startTestCoordinator({ idleTimeoutMs: 3000, ...settings })
  return current
}

async function raw(port: number, head: string): Promise<RawConn> {
  const c = await rawConnect(port, head)
  conns.push(c)
  return c
}

/** Waits until the server has answered (or closed); fails after `ms`. */
async function answered(c: RawConn, ms: number): Promise<number> {
  const t0 = Date.now()
  while (!c.received().includes('\r\n\r\n') && !c.isClosed()) {
    if (Date.now() - t0 > ms) throw new Error(`no answer within ${ms} ms`)
    await Bun.sleep(10)
  }
  return Date.now() - t0
}

type ErrorJson = { error: { code: string; message: string } }

const post = (path: string, extra: string) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}\r\n`

describe('request bodies', () => {
  test('a 100 MB login is refused at once from its Content-Length, in JSON, and the connection closed', async () => {
    const { coord } = await start()
    const c = await raw(coord.httpPort, post('/api/auth/login', `Content-Length: ${100 * 1024 * 1024}\r\n`))
    const chunk = new Uint8Array(1024 * 1024).fill(97)
    for (let i = 0; i < 8; i++) c.write(chunk)
    expect(await answered(c, 5000)).toBeLessThan(1000)
    const a = parseAnswer(c.received())
    expect(a.status).toBe(413)
    expect(a.headers['connection']).toBe('close')
    expect((a.body as ErrorJson).error.code).toBe('body_too_large')
    expect((a.body as ErrorJson).error.message).toContain('larger than 16 KiB')
    expect(await c.closed).toBeLessThan(5000)
  })

  test('a chunked body without Content-Length is cut off just past the limit', async () => {
    const { coord } = await start()
    const c = await raw(coord.httpPort, post('/api/auth/login', 'Transfer-Encoding: chunked\r\n'))
    let sent = 0
    c.write('9\r\n{"user":"\r\n')
    // 2 MiB in 1 KiB chunks unless the server answers first; then the end of the body.
    while (sent < 2 * 1024 * 1024 && !c.received()) {
      c.write(`400\r\n${'a'.repeat(1024)}\r\n`)
      sent += 1024
      if (sent % (64 * 1024) === 0) await Bun.sleep(5)
    }
    c.write('0\r\n\r\n')
    await answered(c, 5000)
    const a = parseAnswer(c.received())
    expect(a.status).toBe(413)
    expect((a.body as ErrorJson).error.code).toBe('body_too_large')
    expect(sent).toBeLessThan(1024 * 1024)
    await c.closed
  })

  test('a body that stalls is cut off by its deadline with a 408 in JSON', async () => {
    const t = await start()
    const auth = `Authorization: Bearer ${t.token}\r\n`
    const job = await raw(t.coord.httpPort, post('/api/jobs', `${auth}Content-Length: 1000\r\n`))
    job.write('{"image":')
    const upload = await raw(
      t.coord.httpPort,
      post('/api/uploads', `${auth}Content-Length: ${1024 * 1024}\r\n`).replace(
        'application/json',
        'application/x-tar',
      ),
    )
    upload.trickle(50, 'x') // 20 bytes a second: far below the 32 KiB/s floor rate
    const t0 = Date.now()
    for (const c of [job, upload]) {
      await answered(c, 15_000)
      // Not before the 3 s every body gets, nor long after it.
      expect(Date.now() - t0).toBeGreaterThan(2500)
      expect(Date.now() - t0).toBeLessThan(8000)
      const a = parseAnswer(c.received())
      expect(a.status).toBe(408)
      expect((a.body as ErrorJson).error.code).toBe('body_timeout')
      expect((a.body as ErrorJson).error.message).toContain('32 KiB per second')
      await c.closed
    }
  })

  test('an honest upload slower than the idle timeout but above the minimum rate is stored', async () => {
    const t = await start({ idleTimeoutMs: 2000, minBodyRate: 64 * 1024 })
    const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 251)
    const archive = await packArchive([{ path: 'big.bin', type: 'file', data, mode: 0o644 }])
    const c = await raw(
      t.coord.httpPort,
      `POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/x-tar\r\nContent-Length: ${archive.length}\r\n\r\n`,
    )
    const t0 = Date.now()
    // 512 KiB a second: about 4 s, twice the idle timeout.
    for (let off = 0; off < archive.length; off += 64 * 1024) {
      c.write(archive.subarray(off, off + 64 * 1024))
      await Bun.sleep(125)
    }
    await answered(c, 10_000)
    expect(Date.now() - t0).toBeGreaterThan(3000)
    const a = parseAnswer(c.received())
    expect(a.status).toBe(201)
    expect(a.body).toMatchObject({ files: 1 })
  })

  test('a GET with a body, and a JSON route past its small limit, are refused', async () => {
    const { coord, token } = await start()
    const res = await fetch(`http://127.0.0.1:${coord.httpPort}/api/credits/grant`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', amount: 'x'.repeat(100_000) }),
    })
    expect(res.status).toBe(413)
    expect(((await res.json()) as ErrorJson).error.message).toContain('64 KiB')
    const c = await raw(coord.httpPort, 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')
    await answered(c, 5000)
    expect(parseAnswer(c.received()).status).toBe(400)
  })
})

describe('the live-output stream', () => {
  test('outlives the idle timeout, with keepalive lines that the client drops', async () => {
    const t = await start({ idleTimeoutMs: 2000 })
    const id = await t.submit() // no worker: it stays queued and says nothing
    const res = await fetch(`${t.base}/api/jobs/${id}/output?follow=1`, {
      headers: { authorization: `Bearer ${t.token}` },
    })
    const client = new ApiClient(parseCoordinator(t.base, { httpPort: 0, wsPort: 0 }), t.token)
    const seen: string[] = []
    const following = (async () => {
      for await (const e of client.output(id, true)) seen.push(e.type)
    })()
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const lines: string[] = []
    const dec = new TextDecoder()
    const t0 = Date.now()
    while (Date.now() - t0 < 6500) {
      const r = await reader.read()
      if (r.done) throw new Error('the stream ended while the job was queued')
      lines.push(...dec.decode(r.value).split('\n').filter(Boolean))
    }
    const keepalives = lines.filter((l) => JSON.parse(l).type === 'keepalive').length
    expect(keepalives).toBeGreaterThanOrEqual(4) // one a second (half the idle timeout)
    expect((await t.post(`/api/jobs/${id}/cancel`, {}, t.token)).status).toBe(200)
    let rest = ''
    for (;;) {
      const r = await reader.read()
      if (r.done) break
      rest += dec.decode(r.value)
    }
    expect(rest).toContain('"type":"end"')
    await following
    expect(seen.at(-1)).toBe('end')
    expect(seen).not.toContain('keepalive')
  }, 30_000)
})

describe('requests not logged in, per client address', () => {
  test('past 64 in flight, a login gets 429 with Retry-After; an authenticated worker still connects', async () => {
    const t = await start({ idleTimeoutMs: 30_000 })
    const slow = await Promise.all(
      Array.from({ length: 64 }, () =>
        raw(t.coord.httpPort, post('/api/auth/login', 'Content-Length: 100\r\n') + '{"user":'),
      ),
    )
    await Bun.sleep(500)
    const login = () => t.post('/api/auth/login', { user: 'alice', password: 'password-123' })
    const refused = await login()
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('5')
    const body = (await refused.json()) as ErrorJson
    expect(body.error.code).toBe('too_many_requests')
    expect(body.error.message).toContain('wait a few seconds and try again')
    expect((await fetch(`${t.base}/health`)).status).toBe(200)
    const w = connect(t.coord.wsPort, t.token)
    expect(await w.opened).toBe(true)
    w.send(hello(testWorker('worker-cap-1')))
    expect((await w.next('welcome')).type).toBe('welcome')
    w.ws.close()
    for (const c of slow) c.socket.destroy()
    await Bun.sleep(200)
    expect((await login()).status).toBe(200)
  })

  test('plain HTTP answers carry no Strict-Transport-Security', async () => {
    const t = await start()
    expect((await fetch(`${t.base}/health`)).headers.get('strict-transport-security')).toBeNull()
  })
})

describe('what one logged-in member may hold open', () => {
  test('followed output streams: past the cap a 429 with Retry-After says how many are open; a closed one frees its slot', async () => {
    // A keepalive line every 2 s (half the idle timeout) is the first byte a quiet stream sends.
    const t = await start({ idleTimeoutMs: 4000, maxFollowsPerUser: 4 })
    const id = await t.submit() // no worker: it stays queued, so each stream stays open
    const get = `GET /api/jobs/${id}/output?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.token}\r\n\r\n`
    const streams = await Promise.all(Array.from({ length: 4 }, () => raw(t.coord.httpPort, get)))
    for (const s of streams) await answered(s, 20_000)
    for (const s of streams) expect(s.received()).toStartWith('HTTP/1.1 200')
    const follow = () =>
      fetch(`${t.base}/api/jobs/${id}/output?follow=1`, { headers: { authorization: `Bearer ${t.token}` } })
    const refused = await follow()
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('5')
    const { error } = (await refused.json()) as ErrorJson
    expect(error.code).toBe('too_many_requests')
    expect(error.message).toContain("you are following 4 jobs' output already")
    // Another member is not held up by this one; stored output without follow is not capped.
    const bob = await t.addUser('bob')
    expect(
      (await fetch(`${t.base}/api/jobs/${id}/output`, { headers: { authorization: `Bearer ${t.token}` } }))
        .status,
    ).toBe(200)
    expect((await fetch(`${t.base}/api/me`, { headers: { authorization: `Bearer ${bob}` } })).status).toBe(
      200,
    )
    // The client going away gives its slot back.
    streams[0]!.socket.destroy()
    let again: Response | undefined
    for (let i = 0; i < 100; i++) {
      again = await follow()
      if (again.status === 200) break
      await again.body?.cancel()
      await Bun.sleep(100)
    }
    expect(again?.status).toBe(200)
    await again?.body?.cancel()
  }, 60_000)

  test('requests with bodies in flight: past the cap a 429; one that ends frees its slot', async () => {
    const t = await start({ idleTimeoutMs: 30_000, maxBodiesPerUser: 3 })
    const slowJob = () =>
      raw(
        t.coord.httpPort,
        `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${t.token}\r\nContent-Length: 100\r\n\r\n{"image":`,
      )
    const slow = await Promise.all(Array.from({ length: 3 }, slowJob))
    await Bun.sleep(500)
    const refused = await t.post('/api/uploads', {}, t.token)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('5')
    expect(((await refused.json()) as ErrorJson).error.message).toContain(
      'you have 3 requests with bodies (job submissions, uploads) in progress',
    )
    // Requests without a body are not counted.
    expect(
      (await fetch(`${t.base}/api/me`, { headers: { authorization: `Bearer ${t.token}` } })).status,
    ).toBe(200)
    slow[0]!.socket.destroy()
    await Bun.sleep(300)
    expect((await t.submit()).length).toBeGreaterThan(0)
  }, 60_000)
})

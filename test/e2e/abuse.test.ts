import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import { parseAnswer, rawConnect } from '../support/raw-http'
import { type Proc, spawnGridx, tempDir } from './harness'

let serve: Proc
let port: number
const home = tempDir('abuse')

beforeAll(async () => {
  serve = spawnGridx(
    ['serve', '--host', '127.0.0.1', '--http-port', '0', '--ws-port', '0', '--idle-timeout', '2s'],
    { GRIDX_HOME: home },
  )
  port = Number((await serve.waitFor(/API http:\/\/127\.0\.0\.1:(\d+)/))[1])
})
afterAll(async () => {
  await serve.stop()
  rmSync(home, { recursive: true, force: true })
})

/** The coordinator's resident memory, from /proc. */
function rssBytes(): number {
  const status = readFileSync(`/proc/${serve.proc.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024
}

/** Sends a login with a 100 MB body as fast as the socket takes it; resolves with the answer and its delay. */
async function hugeLogin(): Promise<{ ms: number; raw: string; sent: number }> {
  const total = 100 * 1024 * 1024
  const c = await rawConnect(
    port,
    `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
  )
  const t0 = performance.now()
  let ms = 0
  c.socket.on('data', () => (ms ||= performance.now() - t0))
  // The coordinator answers from the declared length alone, then closes. Linux resets a socket
  // closed with unread data in it, and a reset can discard an answer this process has not read
  // yet (it happened under a loaded full run), so give the answer up to 1 s before the body.
  for (let i = 0; i < 100 && !c.received().includes('\r\n\r\n'); i++) await Bun.sleep(10)
  const chunk = new Uint8Array(1024 * 1024).fill(32)
  let sent = 0
  while (sent < total && !c.isClosed()) {
    if (!c.socket.write(chunk)) await new Promise((r) => setTimeout(r, 5))
    sent += chunk.length
  }
  await c.closed
  return { ms, raw: c.received(), sent }
}

test('six 100 MB logins at once are refused at once with 413 JSON; the coordinator grows by less than 64 MB', async () => {
  for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${port}/health`)
  const before = rssBytes()
  const answers = await Promise.all(Array.from({ length: 6 }, hugeLogin))
  await Bun.sleep(500)
  const grown = rssBytes() - before
  console.log(
    `RSS ${(before / 2 ** 20).toFixed(1)} MiB before, grew ${(grown / 2 ** 20).toFixed(1)} MiB; answered after ${answers.map((a) => a.ms.toFixed(0)).join(', ')} ms`,
  )
  for (const a of answers) {
    const ans = parseAnswer(a.raw)
    expect(ans.status).toBe(413)
    expect(ans.body).toMatchObject({ error: { code: 'body_too_large' } })
    expect(a.ms).toBeLessThan(1000)
  }
  expect(grown).toBeLessThan(64 * 1024 * 1024)
  expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
}, 60_000)

test('--idle-timeout closes an idle keep-alive connection', async () => {
  const c = await rawConnect(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
  const ms = await c.closed
  expect(parseAnswer(c.received()).status).toBe(200)
  // Bun checks timeouts every 4 s: a 2 s timeout fires within 2 to 8 s.
  expect(ms).toBeGreaterThan(1500)
  expect(ms).toBeLessThan(10_000)
}, 20_000)

test('headers past 16 KiB get 431 JSON, and a Content-Length past every limit gets 413 JSON, not an empty answer', async () => {
  const big = await rawConnect(
    port,
    `GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`,
  )
  await big.closed
  const headers = parseAnswer(big.received())
  expect(headers.status).toBe(431)
  expect(headers.body).toMatchObject({ error: { code: 'headers_too_large' } })
  // Past the largest upload limit, too large for any route: still the coordinator's JSON answer.
  const huge = await rawConnect(
    port,
    'POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Length: 1000000000000\r\n\r\n',
  )
  await huge.closed
  const body = parseAnswer(huge.received())
  expect(body.status).toBe(413)
  expect(body.body).toMatchObject({ error: { code: 'body_too_large' } })
}, 20_000)

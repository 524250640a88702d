import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import { parseCoordinator } from '../../src/client/address'
import type { SavedLogin } from '../../src/client/credentials'
import { checkCoordinator, type CoordinatorCheckOptions } from '../../src/client/doctor/coordinator'
import { Session } from '../../src/protocol/api'
import { tempDir } from '../e2e/harness'
import { check, freePort, TIMEOUT_MS } from '../support/doctor'
import { selfSigned, type SelfSigned, testCa, testServerCert } from '../support/certs'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'

/** Runs the client-side checks against `input` (ports used when it names none). */
function diagnose(
  input: string,
  ports: { http: number; ws?: number },
  o: Partial<Pick<CoordinatorCheckOptions, 'ca' | 'login' | 'creds'>> = {},
) {
  return checkCoordinator({
    addr: parseCoordinator(input, { httpPort: ports.http, wsPort: ports.ws ?? ports.http }),
    ca: o.ca,
    login: o.login,
    creds: o.creds,
    timeoutMs: TIMEOUT_MS,
  })
}

async function login(t: TestCoordinator, password = 'password-123'): Promise<SavedLogin> {
  const res = await t.post('/api/auth/login', { user: 'alice', password })
  return { ...Session.parse(await res.json()), coordinator: t.base }
}

let coord: TestCoordinator | undefined
let other: TestCoordinator | undefined
const servers: { stop(force?: boolean): unknown }[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop(true)
  await other?.stop()
  other = undefined
})
beforeAll(async () => {
  coord = await startTestCoordinator()
})
afterAll(async () => {
  await coord?.stop()
})
const c = () => coord!

describe('gridx doctor from a client host', () => {
  test('a healthy coordinator and a valid login: every check passes, in order', async () => {
    const t = c()
    const results = await diagnose(
      '127.0.0.1',
      { http: t.coord.httpPort, ws: t.coord.wsPort },
      { login: await login(t) },
    )
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['name', 'ok'],
      ['http port', 'ok'],
      ['ws port', 'ok'],
      ['health', 'ok'],
      ['clock', 'ok'],
      ['credentials', 'ok'],
      ['websocket', 'ok'],
    ])
    expect(check(results, 'credentials').detail).toContain('logged in as alice')
    expect(check(results, 'websocket').detail).toContain('accepts the WebSocket handshake')
  })

  test('coordinator down: both ports refused, the fix says to start it, the rest is skipped', async () => {
    const [http, ws] = [freePort(), freePort()]
    const results = await diagnose('127.0.0.1', { http, ws })
    const h = check(results, 'http port')
    expect(h.status).toBe('fail')
    expect(h.detail).toBe(`connection to 127.0.0.1:${http} refused: nothing listens there`)
    expect(h.fix).toContain("start 'gridx serve' on 127.0.0.1")
    expect(check(results, 'ws port').status).toBe('fail')
    for (const name of ['health', 'clock', 'credentials', 'websocket']) {
      expect(check(results, name).status).toBe('skip')
    }
    expect(check(results, 'health').detail).toBe(`no connection to 127.0.0.1:${http} (see http port)`)
  })

  test('wrong worker port: the API answers, the fix names the ws port flag', async () => {
    const t = c()
    const wrong = freePort()
    const results = await diagnose('127.0.0.1', { http: t.coord.httpPort, ws: wrong })
    expect(check(results, 'http port').status).toBe('ok')
    expect(check(results, 'health').status).toBe('ok')
    const ws = check(results, 'ws port')
    expect(ws.status).toBe('fail')
    expect(ws.detail).toContain('refused')
    expect(ws.fix).toContain(
      `the API answers on port ${t.coord.httpPort} but the worker socket does not on ${wrong}`,
    )
    expect(ws.fix).toContain('--ws-port')
    expect(check(results, 'websocket').status).toBe('skip')
  })

  test('wrong port: something that is not Grid-X answers there', async () => {
    const web = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => new Response('<h1>not found</h1>', { status: 404 }),
    })
    servers.push(web)
    const results = await diagnose('127.0.0.1', { http: web.port! })
    expect(check(results, 'http port').status).toBe('ok')
    const health = check(results, 'health')
    expect(health.status).toBe('fail')
    expect(health.detail).toContain('gave HTTP 404: not a Grid-X coordinator')
    expect(health.fix).toContain('wrong port or address?')
    expect(check(results, 'credentials').status).toBe('skip')
    const ws = check(results, 'websocket')
    expect(ws.status).toBe('fail')
    expect(ws.detail).toContain('has no WebSocket endpoint (HTTP 404)')
  })

  test('not logged in: a warning, and the WebSocket handshake is told apart as "needs credentials"', async () => {
    const t = c()
    const results = await diagnose('127.0.0.1', { http: t.coord.httpPort, ws: t.coord.wsPort })
    const creds = check(results, 'credentials')
    expect(creds.status).toBe('warn')
    expect(creds.fix).toContain(`gridx login --coordinator 127.0.0.1 --user NAME`)
    const ws = check(results, 'websocket')
    expect(ws.status).toBe('ok')
    expect(ws.detail).toContain('asks for credentials (HTTP 401: not logged in)')
  })

  test('bad password: the credentials check fails and says how to fix it', async () => {
    const t = c()
    const results = await diagnose(
      '127.0.0.1',
      { http: t.coord.httpPort, ws: t.coord.wsPort },
      { creds: { user: 'alice', password: 'not-her-password' } },
    )
    const r = check(results, 'credentials')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain("wrong user name or password for 'alice'")
    expect(r.fix).toContain('--user/--password (or GRIDX_USER/GRIDX_PASSWORD)')
    expect(r.fix).toContain('gridx register')
  })

  test('the right password passes', async () => {
    const t = c()
    const results = await diagnose(
      '127.0.0.1',
      { http: t.coord.httpPort, ws: t.coord.wsPort },
      { creds: { user: 'alice', password: 'password-123' } },
    )
    expect(check(results, 'credentials')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('alice can log in'),
    })
  })

  test('--user/--password win over a saved login: a wrong password fails even while the saved token is valid', async () => {
    const t = c()
    const saved = await login(t)
    const port = { http: t.coord.httpPort, ws: t.coord.wsPort }
    const wrong = await diagnose('127.0.0.1', port, {
      login: saved,
      creds: { user: 'alice', password: 'not-her-password' },
    })
    expect(check(wrong, 'credentials')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("wrong user name or password for 'alice'"),
    })
    const right = await diagnose('127.0.0.1', port, {
      login: saved,
      creds: { user: 'alice', password: 'password-123' },
    })
    expect(check(right, 'credentials')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('alice can log in'),
    })
  })

  test('revoked token: the credentials check fails with "gridx login"', async () => {
    const t = c()
    const saved = await login(t)
    const out = await t.post('/api/auth/logout', {}, saved.token)
    expect(out.status).toBe(204)
    const results = await diagnose(
      '127.0.0.1',
      { http: t.coord.httpPort, ws: t.coord.wsPort },
      { login: saved },
    )
    const r = check(results, 'credentials')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain('is refused: it was revoked')
    expect(r.fix).toBe('gridx login --coordinator 127.0.0.1 --user alice')
    // The socket still answers the handshake; only the token is wrong.
    expect(check(results, 'websocket')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('the saved token was refused'),
    })
  })

  test('expired token: the credentials check says it expired', async () => {
    other = await startTestCoordinator({ tokenTtlMs: 1 })
    const saved = await login(other)
    await Bun.sleep(20)
    const results = await diagnose(
      '127.0.0.1',
      { http: other.coord.httpPort, ws: other.coord.wsPort },
      { login: saved },
    )
    const r = check(results, 'credentials')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain(`it expired at ${saved.expiresAt}`)
    expect(r.fix).toBe('gridx login --coordinator 127.0.0.1 --user alice')
  })
})

describe('gridx doctor and TLS', () => {
  let dir: string
  let localhost: SelfSigned
  let elsewhere: SelfSigned
  beforeAll(() => {
    dir = tempDir('doctor-tls')
    localhost = selfSigned(dir, 'localhost', ['localhost', '127.0.0.1'])
    elsewhere = selfSigned(dir, 'elsewhere', ['other.example'])
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  /** A TLS front for the test coordinator, as a reverse proxy would be. */
  function tlsFront(cert: SelfSigned): number {
    const upstream = c().base
    const s = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: cert.cert, key: cert.key },
      fetch: (req) => {
        const u = new URL(req.url)
        return fetch(`${upstream}${u.pathname}${u.search}`, { method: req.method, headers: req.headers })
      },
    })
    servers.push(s)
    return s.port!
  }

  test('a certificate for another host name: ✗ with the names it covers, later checks skipped', async () => {
    const port = tlsFront(elsewhere)
    const results = await diagnose(`https://localhost:${port}`, { http: 0 }, { ca: elsewhere.cert })
    expect(check(results, 'http port').status).toBe('ok')
    const r = check(results, 'http tls')
    expect(r.status).toBe('fail')
    expect(r.detail).toBe(`the certificate of localhost:${port} is for DNS:other.example, not for localhost`)
    expect(r.fix).toContain('make a certificate for localhost')
    expect(check(results, 'health')).toMatchObject({
      status: 'skip',
      detail: `no trusted TLS connection to localhost:${port} (see http tls)`,
    })
  })

  test('an untrusted self-signed certificate: ✗ with its fingerprint and the --ca-cert fix', async () => {
    const port = tlsFront(localhost)
    const results = await diagnose(`https://localhost:${port}`, { http: 0 })
    const r = check(results, 'http tls')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain('is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed)')
    expect(r.detail).toMatch(/SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/)
    expect(r.fix).toContain('--ca-cert FILE')
    expect(r.fix).toContain('GRIDX_CA_CERT')
  })

  test('the same certificate trusted with --ca-cert: ✓, and /health answers over HTTPS', async () => {
    const port = tlsFront(localhost)
    const results = await diagnose(`https://localhost:${port}`, { http: 0 }, { ca: localhost.cert })
    expect(check(results, 'http tls')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('trusted (CA from --ca-cert)'),
    })
    expect(check(results, 'health').status).toBe('ok')
    expect(check(results, 'clock').status).toBe('ok')
  })
  test('a certificate from a private CA: untrusted without it, ✓ with --ca-cert; an expired one: ✗ expired', async () => {
    const caDir = tempDir('doctor-ca')
    try {
      const { ca } = testCa(caDir)
      const pem = (path: string) => readFileSync(path, 'utf8')
      const good = testServerCert(caDir, 'good', ['localhost'])
      const port = tlsFront({ cert: pem(good.cert), key: pem(good.key), certPath: good.cert })
      const untrusted = await diagnose(`https://localhost:${port}`, { http: 0 })
      expect(check(untrusted, 'http tls')).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining('is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
      })
      const trusted = await diagnose(`https://localhost:${port}`, { http: 0 }, { ca: pem(ca) })
      expect(check(trusted, 'http tls').status).toBe('ok')

      const old = testServerCert(caDir, 'old', ['localhost'], -1)
      const oldPort = tlsFront({ cert: pem(old.cert), key: pem(old.key), certPath: old.cert })
      const expired = await diagnose(`https://localhost:${oldPort}`, { http: 0 }, { ca: pem(ca) })
      expect(check(expired, 'http tls')).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/^the certificate of localhost:\d+ \(DNS:localhost\) expired on /),
        fix: expect.stringContaining('renew it'),
      })
    } finally {
      rmSync(caDir, { recursive: true, force: true })
    }
  })
})

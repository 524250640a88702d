import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseCoordinator } from '../../src/client/address'
import { ApiClient } from '../../src/client/api'
import { checkCoordinator } from '../../src/client/doctor/coordinator'
import { type Coordinator, startCoordinator } from '../../src/coordinator/server'
import { pinServedCertificate } from '../../src/client/trust'
import { GridError } from '../../src/errors'
import { loadServerTls } from '../../src/tls/server-cert'
import { tempDir } from '../e2e/harness'
import { selfSigned, type SelfSigned } from '../support/certs'
import { fakeAgent } from '../support/fake-agent'
import { freePort } from '../support/tinyproxy'

// A worker (and doctor) with a pinned certificate, after the coordinator restarts at the same
// address with another certificate: the worker stops with both fingerprints (never retrying
// forever, never accepting it), and doctor names the mismatch the same way.

const dirs: string[] = []
const coords: Coordinator[] = []
let certA: SelfSigned
let certB: SelfSigned
let fpA: string
let fpB: string
let port: number
let wsPort: number

function dir(prefix: string): string {
  const d = tempDir(prefix)
  dirs.push(d)
  return d
}

async function coordinator(cert: SelfSigned): Promise<Coordinator> {
  const c = await startCoordinator({
    host: '127.0.0.1',
    httpPort: port,
    // The worker socket goes to the API port (an address with a port); this one is unused.
    wsPort,
    dataDir: dir('pin-coord'),
    tls: { cert: cert.cert, key: cert.key },
    log: () => undefined,
  })
  coords.push(c)
  return c
}

const addr = () => parseCoordinator(`https://127.0.0.1:${port}`, { httpPort: port, wsPort: port })

beforeAll(async () => {
  const d = dir('pin-certs')
  // Neither covers 127.0.0.1: the pin replaces the host-name check, as with a join token.
  certA = selfSigned(d, 'a', ['grid.example'])
  certB = selfSigned(d, 'b', ['grid.example'])
  fpA = loadServerTls(certA.certPath, join(d, 'a.key')).leaf.fingerprint256
  fpB = loadServerTls(certB.certPath, join(d, 'b.key')).leaf.fingerprint256
  port = await freePort()
  wsPort = await freePort()
})
afterAll(async () => {
  await Promise.all(coords.map((c) => c.stop().catch(() => undefined)))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('a pinned coordinator that comes back with another certificate', () => {
  test('the worker stops with tls_pin_mismatch naming both fingerprints; doctor says the same', async () => {
    const a = await coordinator(certA)
    const api = new ApiClient(addr(), undefined, { pin: { fingerprint: fpA } }, true)
    await api.register({ user: 'wendy', password: 'password-123' })
    const { token } = await api.login({ user: 'wendy', password: 'password-123' })
    const trust = api.trust
    expect(trust?.pin?.anchor).toBeDefined()

    const logs: string[] = []
    const agent = fakeAgent({ addr: addr(), token: () => Promise.resolve(token), trust }, logs)
    const ended = agent.run().then(
      () => undefined,
      (err: unknown) => err,
    )
    const deadline = Date.now() + 30_000
    while (!logs.some((l) => l.includes('waiting for jobs'))) {
      if (Date.now() > deadline) throw new Error(`never connected:\n${logs.join('\n')}`)
      await Bun.sleep(50)
    }
    // Doctor, with the pin, agrees while the certificate is the pinned one.
    const good = await checkCoordinator({
      addr: addr(),
      ca: trust?.pin?.anchor,
      pin: fpA,
      login: undefined,
      creds: undefined,
      timeoutMs: 3000,
    })
    expect(good.find((c) => c.check === 'pin')).toMatchObject({ status: 'ok' })
    expect(good.find((c) => c.check === 'http tls')).toMatchObject({ status: 'ok' })
    expect(good.find((c) => c.check === 'health')).toMatchObject({ status: 'ok' })

    await a.stop()
    coords.splice(coords.indexOf(a), 1)
    await coordinator(certB)
    const err = await Promise.race([ended, Bun.sleep(60_000).then(() => 'still running')])
    if (err === 'still running') await agent.stop()
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('tls_pin_mismatch')
    expect((err as GridError).message).toContain(`fingerprint ${fpB}, but ${fpA} is the one pinned`)

    const bad = await checkCoordinator({
      addr: addr(),
      ca: trust?.pin?.anchor,
      pin: fpA,
      login: undefined,
      creds: undefined,
      timeoutMs: 3000,
    })
    const pin = bad.find((c) => c.check === 'pin')
    expect(pin?.status).toBe('fail')
    expect(pin?.detail).toContain(`fingerprint ${fpB}, but ${fpA} is the one pinned`)
    expect(bad.find((c) => c.check === 'health')?.status).toBe('skip')
  }, 120_000)

  test('a pinned address with nothing listening says so (not "nothing answered within 10 s")', async () => {
    const dead = await freePort()
    const started = Date.now()
    const err = await pinServedCertificate('127.0.0.1', dead, fpA).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as GridError).code).toBe('coordinator_unreachable')
    expect((err as GridError).message).toContain(
      `the coordinator at 127.0.0.1:${dead}: connection refused (nothing is listening there)`,
    )
    expect(Date.now() - started).toBeLessThan(9_000)
  })
})

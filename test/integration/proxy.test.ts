import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { parseCoordinator } from '../../src/client/address'
import { ApiClient } from '../../src/client/api'
import { probeWebSocket } from '../../src/client/doctor/probes'
import { parseNoProxy, parseProxyUrl, type ProxySettings } from '../../src/client/proxy'
import { type Coordinator, startCoordinator } from '../../src/coordinator/server'
import { GridError } from '../../src/errors'
import { tempDir } from '../e2e/harness'
import { selfSigned } from '../support/certs'
import { fakeAgent } from '../support/fake-agent'
import { freePort, startTinyproxy, type TestProxy, tinyproxyMissing } from '../support/tinyproxy'

// A real TLS coordinator reached only through a real proxy (tinyproxy): every API call and the
// worker socket go through its CONNECT tunnel, TLS is still verified end to end, and each way
// the proxy can fail is named as the proxy's.

const missing = tinyproxyMissing()
if (missing) console.warn(`skipping proxy tests: ${missing}`)

const dir = tempDir('proxy')
const tls = selfSigned(dir, 'coord', ['127.0.0.1'])
const ca = { path: tls.certPath, pem: tls.cert }
let coord: Coordinator
let open: TestProxy
let guarded: TestProxy
let strict: TestProxy
/** On another loopback address than the coordinator: a tunnel's peer is not the coordinator's name. */
let apart: TestProxy

/** Proxy settings as config makes them from HTTPS_PROXY=url (loopback proxied: proxy and coordinator share 127.0.0.1). */
function via(url: string): ProxySettings {
  return {
    https: parseProxyUrl(url, 'HTTPS_PROXY'),
    http: undefined,
    noProxy: parseNoProxy(undefined, undefined),
    loopback: true,
  }
}
const addr = () => parseCoordinator(`https://127.0.0.1:${coord.httpPort}`, { httpPort: 0, wsPort: 0 })
const wsAddr = () => {
  const a = addr()
  return { ...a, wsPort: coord.wsPort, wsUrl: `wss://127.0.0.1:${coord.wsPort}/ws/worker` }
}

async function failure(p: Promise<unknown>): Promise<GridError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GridError) return err
    throw err
  }
  throw new Error('expected a failure')
}

beforeAll(async () => {
  if (missing) return
  coord = await startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir: dir,
    tls: { cert: tls.cert, key: tls.key },
    log: () => undefined,
  })
  open = await startTinyproxy({ connectPorts: [coord.httpPort, coord.wsPort] })
  guarded = await startTinyproxy({
    connectPorts: [coord.httpPort, coord.wsPort],
    auth: { user: 'bob', password: 's3cret-pw' },
  })
  // Allows only 443, as many corporate proxies do.
  strict = await startTinyproxy({ connectPorts: [443] })
  apart = await startTinyproxy({ connectPorts: [coord.wsPort], listen: '127.0.0.2' })
})

afterAll(async () => {
  for (const p of [open, guarded, strict, apart]) p?.stop()
  await coord?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(missing !== undefined)('through a real proxy (tinyproxy)', () => {
  test('register, login and calls go through the CONNECT tunnel, with TLS verified by --ca-cert', async () => {
    const api = new ApiClient(addr(), undefined, { ca }, false, via(open.url))
    expect(api.route().kind).toBe('proxy')
    expect((await api.health()).status).toBe('ok')
    await api.register({ user: 'alice', password: 'password-123' })
    await api.login({ user: 'alice', password: 'password-123' })
    expect((await api.me()).user).toBe('alice')
    expect(open.log()).toContain(`CONNECT 127.0.0.1:${coord.httpPort}`)
    // Without the CA the coordinator's certificate is refused, proxy or not.
    const untrusted = await failure(
      new ApiClient(addr(), undefined, undefined, false, via(open.url)).health(),
    )
    expect(untrusted.code).toBe('tls_untrusted')
  })

  test('a proxy login in the URL works; a missing or wrong one is named, and never printed', async () => {
    const good = new ApiClient(addr(), undefined, { ca }, false, via(guarded.url))
    expect((await good.health()).status).toBe('ok')
    const none = await failure(
      new ApiClient(addr(), undefined, { ca }, false, via(`http://127.0.0.1:${guarded.port}`)).health(),
    )
    expect(none.code).toBe('proxy_auth')
    expect(none.message).toContain(`wants a login (HTTP 407`)
    expect(none.message).toContain(`HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:${guarded.port}`)
    const wrong = await failure(
      new ApiClient(
        addr(),
        undefined,
        { ca },
        false,
        via(`http://bob:nope-secret@127.0.0.1:${guarded.port}`),
      ).health(),
    )
    expect(wrong.code).toBe('proxy_auth')
    expect(wrong.message).toContain('refused the user name and password in HTTPS_PROXY')
    expect(wrong.message).toContain('http://bob:***@127.0.0.1')
    expect(wrong.message).not.toContain('nope-secret')
  })

  test("a proxy that refuses CONNECT to the port says so with its status line (tinyproxy's ConnectPort)", async () => {
    const err = await failure(new ApiClient(addr(), undefined, { ca }, false, via(strict.url)).health())
    expect(err.code).toBe('proxy_refused')
    expect(err.message).toContain(
      `the proxy http://127.0.0.1:${strict.port} (HTTPS_PROXY) refused to open a tunnel to 127.0.0.1:${coord.httpPort} (HTTP 403`,
    )
    expect(err.message).toContain(`ConnectPort ${coord.httpPort}`)
    expect(err.retryable).toBe(false)
  })

  test('a proxy that is not there is named, not the coordinator', async () => {
    const dead = await freePort()
    const err = await failure(
      new ApiClient(addr(), undefined, { ca }, false, via(`http://127.0.0.1:${dead}`)).health(),
    )
    expect(err.code).toBe('proxy_unreachable')
    expect(err.message).toContain(
      `cannot reach the proxy http://127.0.0.1:${dead} (HTTPS_PROXY) at 127.0.0.1:${dead}: connection refused`,
    )
  })

  test('the worker socket connects through the tunnel; a refusing proxy stops the worker with its reason', async () => {
    const api = new ApiClient(addr(), undefined, { ca }, false, via(open.url))
    const { token } = await api.login({ user: 'alice', password: 'password-123' })
    const logs: string[] = []
    const agent = fakeAgent(
      { addr: wsAddr(), trust: { ca }, proxy: via(open.url), token: () => Promise.resolve(token) },
      logs,
    )
    const running = agent.run()
    await agent.ready
    expect(open.log()).toContain(`CONNECT 127.0.0.1:${coord.wsPort}`)
    await agent.stop()
    await running

    const refused = fakeAgent(
      { addr: wsAddr(), trust: { ca }, proxy: via(strict.url), token: () => Promise.resolve(token) },
      logs,
    )
    const err = await failure(refused.run())
    expect(err.code).toBe('proxy_refused')
    expect(err.message).toContain(`refused to open a tunnel to 127.0.0.1:${coord.wsPort} (HTTP 403`)
    await refused.stop()
  })

  test("doctor's socket probe through a tunnel checks the coordinator's name, not the proxy's", async () => {
    // The certificate names 127.0.0.1 only; the proxy is 127.0.0.2, the peer of the tunnel socket.
    const { token } = await new ApiClient(addr(), undefined, { ca }, false, via(open.url)).login({
      user: 'alice',
      password: 'password-123',
    })
    const r = await probeWebSocket(wsAddr().wsUrl, {
      token,
      ca: ca.pem,
      timeoutMs: 5000,
      proxy: via(apart.url),
    })
    expect(r).toMatchObject({ kind: 'reply', status: 101, upgraded: true })
    expect(apart.log()).toContain(`CONNECT 127.0.0.1:${coord.wsPort}`)
  })
})

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import type { NetworkInterfaceInfo } from 'node:os'
import { join } from 'node:path'
import { checkServeHost } from '../../src/client/doctor/serve-host'
import { dockerCandidates } from '../../src/worker/docker'
import { checkEngine } from '../../src/worker/engine-check'
import { BB_IMAGE, tempDir } from '../e2e/harness'
import { check, freePort, TIMEOUT_MS } from '../support/doctor'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'

/** An interface table with one "network" address that is really another loopback address. */
const fakeLan: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lan0: [
    {
      address: '127.0.0.2',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal: false,
      cidr: '127.0.0.2/8',
    },
  ],
}

let dir: string
const stops: (() => unknown)[] = []
beforeAll(() => {
  dir = tempDir('doctor-host')
})
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const engine = (
  dockerHost: string | undefined,
  o: { worker?: boolean; allow?: string[]; pull?: boolean; ociRuntime?: string } = {},
) =>
  checkEngine({
    candidates: dockerCandidates({ dockerHost, home: dir, uid: process.getuid?.() }),
    allow: o.allow ?? [BB_IMAGE],
    pull: o.pull ?? true,
    // A registry on a loopback port nothing listens on: any registry lookup stays on this machine.
    defaultImage: '127.0.0.1:1/gridx/python:3.12-slim',
    ociRuntime: o.ociRuntime,
    worker: o.worker ?? false,
    timeoutMs: TIMEOUT_MS,
    runTimeoutMs: 60_000,
  })

describe('gridx doctor and the Docker engine', () => {
  test('a working engine: found, version, the allowed image here, a throw-away container without network', async () => {
    const results = await engine(undefined, { worker: true })
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['docker', 'ok'],
      ['docker version', 'ok'],
      ['images', 'ok'],
      ['docker run', 'ok'],
    ])
    expect(check(results, 'images').detail).toBe(`allowed (${BB_IMAGE}) and here: ${BB_IMAGE}`)
    expect(check(results, 'docker run').detail).toContain(
      `ran a throw-away container of ${BB_IMAGE} with no network`,
    )
  })

  test('a runtime Docker does not have: ✗ naming the ones it has', async () => {
    const results = await engine(undefined, { worker: true, ociRuntime: 'no-such-runtime' })
    const r = check(results, 'oci runtime')
    expect(r.status).toBe('fail')
    expect(r.detail).toMatch(/^Docker has no runtime 'no-such-runtime' \(it has: .*runc/)
    expect(r.fix).toContain('/etc/docker/daemon.json')
  })

  test('engine stopped (a socket nothing answers on): ✗ with how to start it, the rest skipped', async () => {
    const path = join(dir, 'dead-docker.sock')
    const dead = Bun.listen({ unix: path, socket: { open: (s) => void s.end(), data() {} } })
    stops.push(() => dead.stop(true))
    const results = await engine(`unix://${path}`)
    const r = check(results, 'docker')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain('Docker does not answer')
    expect(r.detail).toContain(path)
    expect(r.fix).toContain("'sudo systemctl start docker'")
    expect(check(results, 'docker run')).toMatchObject({
      status: 'skip',
      detail: 'Docker is not available (see docker)',
    })
  })

  test('no engine at all: skipped for a submit-only machine, ✗ for a worker host', async () => {
    const path = join(dir, 'no-such-docker.sock')
    const plain = await engine(`unix://${path}`)
    expect(plain).toHaveLength(1)
    expect(plain[0]).toMatchObject({ check: 'docker', status: 'skip' })
    expect(plain[0]?.detail).toContain('only a worker needs one')
    const worker = await engine(`unix://${path}`, { worker: true })
    const r = check(worker, 'docker')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain(`no Docker engine found (looked for unix://${path})`)
    expect(r.fix).toContain('install Docker')
  })

  test('no allowed image here and none pullable: ✗ on a worker host, ! elsewhere; the engine is still tried', async () => {
    // A registry on a loopback port nothing listens on: the lookup stays on this machine.
    const image = '127.0.0.1:1/gridx/not-here:1'
    const worker = await engine(undefined, { worker: true, allow: [image] })
    const r = check(worker, 'images')
    expect(r.status).toBe('fail')
    expect(r.detail).toContain(
      `no image the allowlist (${image}) allows is here, and it cannot be pulled (${image}: `,
    )
    expect(r.fix).toContain('--images')
    // Any image here serves to try the sandbox itself.
    expect(check(worker, 'docker run').status).toBe('ok')
    const plain = await engine(undefined, { allow: [image] })
    expect(check(plain, 'images').status).toBe('warn')
  })

  test('pulls off and no allowed image here: ✗ saying pulls are off', async () => {
    const results = await engine(undefined, {
      worker: true,
      allow: ['gridx-local/nothing-like-this:*'],
      pull: false,
    })
    expect(check(results, 'images')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('and pulls are off (--no-pull)'),
    })
  })
})

describe('gridx doctor --serve', () => {
  let coord: TestCoordinator | undefined
  afterEach(async () => {
    await coord?.stop()
    coord = undefined
  })

  test('free ports on 127.0.0.1: ✓ ports, and a warning that other machines cannot reach it', async () => {
    const [http, ws] = [freePort(), freePort()]
    const results = await checkServeHost({
      host: '127.0.0.1',
      httpPort: http,
      wsPort: ws,
      timeoutMs: TIMEOUT_MS,
    })
    expect(check(results, 'http port')).toMatchObject({
      status: 'ok',
      detail: `port ${http} (the API) is free on 127.0.0.1`,
    })
    expect(check(results, 'ws port').status).toBe('ok')
    const a = check(results, 'addresses')
    expect(a.status).toBe('warn')
    expect(a.detail).toBe('bound to 127.0.0.1 only (loopback): other machines cannot reach this coordinator')
    expect(a.fix).toContain("'gridx serve --host 0.0.0.0'")
  })

  test('free ports on all interfaces: the addresses other machines use, and firewall hints', async () => {
    const [http, ws] = [freePort(), freePort()]
    const results = await checkServeHost({
      host: '0.0.0.0',
      httpPort: http,
      wsPort: ws,
      timeoutMs: TIMEOUT_MS,
      interfaces: fakeLan,
      firewalls: [{ tool: 'firewalld', enabled: true }],
      // The rules unread, as for a user who is not root: the per-tool hints are what is shown.
      rules: { chains: [], read: [], denied: true },
    })
    expect(check(results, 'addresses')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining(`http://127.0.0.2:${http} (lan0)`),
    })
    expect(check(results, 'firewall firewalld')).toMatchObject({
      status: 'warn',
      fix: `sudo firewall-cmd --permanent --add-port=${http}/tcp --add-port=${ws}/tcp && sudo firewall-cmd --reload`,
    })
  })

  test('a port taken by something that is not gridx: ✗ naming the flag and variable to change', async () => {
    const web = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => new Response('hello', { status: 200 }),
    })
    stops.push(() => web.stop(true))
    const results = await checkServeHost({
      host: '0.0.0.0',
      httpPort: web.port!,
      wsPort: freePort(),
      timeoutMs: TIMEOUT_MS,
      interfaces: fakeLan,
    })
    const r = check(results, 'http port')
    expect(r.status).toBe('fail')
    expect(r.detail).toBe(`port ${web.port} on 0.0.0.0 (the API) is taken by another program, not by gridx`)
    expect(r.fix).toContain('--http-port P or GRIDX_HTTP_PORT=P')
    expect(r.fix).toContain(`sport = :${web.port}`)
    expect(check(results, 'ws port').status).toBe('ok')
  })

  test('ports served by a gridx bound to 127.0.0.1: ✓ served by gridx, ! reachable from this machine only', async () => {
    coord = await startTestCoordinator()
    const { httpPort, wsPort } = coord.coord
    const results = await checkServeHost({
      host: '0.0.0.0',
      httpPort,
      wsPort,
      timeoutMs: TIMEOUT_MS,
      interfaces: fakeLan,
      firewalls: [],
    })
    expect(check(results, 'http port')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining(`port ${httpPort} (the API) is already served by gridx`),
    })
    expect(check(results, 'ws port').detail).toContain('already served by gridx')
    const a = check(results, 'addresses')
    expect(a.status).toBe('warn')
    expect(a.detail).toContain('not on 127.0.0.2: it is bound to 127.0.0.1 (loopback) only')
  })

  test('the same port for the API and the workers: ✗ on the ws port', async () => {
    const port = freePort()
    const results = await checkServeHost({
      host: '127.0.0.1',
      httpPort: port,
      wsPort: port,
      timeoutMs: TIMEOUT_MS,
    })
    expect(check(results, 'ws port')).toMatchObject({
      status: 'fail',
      detail: `--http-port and --ws-port are both ${port}; 'gridx serve' listens on each separately`,
    })
  })
})

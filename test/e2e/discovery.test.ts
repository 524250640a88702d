import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Lab, labUnavailable, startLab } from '../support/netns'
import { GRIDX, type Proc, gridx, spawnGridx, tempDir } from './harness'

// LAN discovery across "machines" in network namespaces on one bridge: coordinators on .1 and
// .2, the user's machine on .11. Every namespace gets a multicast route on its lab interface, so
// mDNS goes only over the lab's bridge (the harness turns discovery off everywhere else).
const skip = labUnavailable()
if (skip) console.warn(`skipping discovery tests: ${skip}`)

const C1 = '10.231.0.1'
const C2 = '10.231.0.2'
const USER = '10.231.0.11'
const ON = { GRIDX_DISCOVERY: '1' }
let lab: Lab
const procs: Proc[] = []
const homes: string[] = []

function home(name: string): string {
  const h = tempDir(`disc-${name}`)
  homes.push(h)
  return h
}

function serve(host: string, args: string[] = []): Proc {
  const p = spawnGridx(
    ['serve', '--signup', 'open', ...args],
    { ...ON, GRIDX_HOME: home(host) },
    lab.on(host),
  )
  procs.push(p)
  return p
}

/** Runs gridx on the user's machine with a fresh home (no saved login) unless one is given. */
function onUser(args: string[], env: Record<string, string> = {}) {
  return gridx(args, { ...ON, GRIDX_HOME: home('user'), ...env }, { wrap: lab.on('user'), timeoutMs: 90_000 })
}

/** Runs gridx on a pseudo-terminal on the user's machine; each key is typed once its prompt shows. */
async function onTerminal(args: string[], gridxHome: string, keys: [RegExp, string][]) {
  const cmd = [...lab.on('user'), GRIDX, ...args].join(' ')
  const proc = Bun.spawn(['script', '-qfec', cmd, '/dev/null'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_HOME: gridxHome, TERM: 'dumb', ...ON },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let screen = ''
  void (async () => {
    const dec = new TextDecoder()
    for await (const chunk of proc.stdout) screen += dec.decode(chunk, { stream: true })
  })()
  const kill = setTimeout(() => proc.kill('SIGKILL'), 60_000)
  for (const [shown, typed] of keys) {
    while (!shown.test(screen) && proc.exitCode === null) await Bun.sleep(25)
    if (proc.exitCode !== null) break
    void proc.stdin.write(typed)
    await proc.stdin.flush()
  }
  const code = await proc.exited
  clearTimeout(kill)
  return { code, screen }
}

describe.skipIf(skip !== undefined)('LAN discovery (network namespaces)', () => {
  let plain: Proc
  beforeAll(async () => {
    lab = startLab({ c1: C1, c2: C2, user: USER })
    for (const h of ['c1', 'c2', 'user']) lab.run(h, ['ip', 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
    plain = serve('c1')
    await plain.waitFor(/LAN discovery: advertising '.+' as _gridx\._tcp on eth0 \(10\.231\.0\.1\)/, 30_000)
  }, 120_000)

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')))
    lab?.down()
    for (const h of homes) rmSync(h, { recursive: true, force: true })
  })

  test('register with no address finds the coordinator, says so, and later commands use it', async () => {
    const h = home('alice')
    const started = Date.now()
    const r = await onUser(['register', '--user', 'alice', '--password', 'pw-1234567'], { GRIDX_HOME: h })
    const tookMs = Date.now() - started
    expect(r.stderr).toMatch(/found coordinator \S+ at http:\/\/10\.231\.0\.1:8081 on the local network/)
    expect(r.code).toBe(0)
    console.log(`discovery: register found the coordinator and finished in ${tookMs} ms`)
    const who = await onUser(['whoami', '--json'], { GRIDX_HOME: h })
    expect(JSON.parse(who.stdout)).toMatchObject({ user: 'alice', coordinator: `http://${C1}:8081` })
  })

  test('gridx work with no address finds it, logs in and waits for jobs', async () => {
    const w = spawnGridx(
      ['work', '--name', 'lanw', '--slots', '1', '--images', 'gridx-local/*'],
      { ...ON, GRIDX_HOME: home('worker'), GRIDX_USER: 'alice', GRIDX_PASSWORD: 'pw-1234567' },
      lab.on('user'),
    )
    procs.push(w)
    await w.waitFor(/found coordinator \S+ at http:\/\/10\.231\.0\.1:8081 on the local network/, 30_000)
    await w.waitFor(/as worker lanw; waiting for jobs/, 60_000)
    await w.stop('SIGKILL')
  }, 90_000)

  test('doctor lists what discovery sees: name, addresses, port, TLS', async () => {
    const r = await onUser(['doctor', '--no-docker'])
    expect(r.stdout).toMatch(
      /✓ lan discovery: coordinator \S+ at http:\/\/10\.231\.0\.1:8081: addresses 10\.231\.0\.1; port 8081; plain HTTP; version /,
    )
  })

  test('a coordinator that cannot have UDP 5353 logs one line and serves anyway', async () => {
    // A socket bound without SO_REUSEADDR, as an mDNS responder that does not share the port.
    const holder = Bun.spawn(
      [
        ...lab.on('c2'),
        'python3',
        '-c',
        "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',5353)); print('held', flush=True); time.sleep(600)",
      ],
      { stdout: 'pipe' },
    )
    await holder.stdout.getReader().read()
    const blocked = serve('c2', ['--http-port', '9081', '--ws-port', '9080'])
    await blocked.waitFor(
      /LAN discovery: not advertising: cannot listen on UDP port 5353 .*EADDRINUSE/,
      30_000,
    )
    const health = await gridx(
      ['doctor', '--no-docker', '--coordinator', `${C2}:9081`],
      { GRIDX_HOME: home('h') },
      { wrap: lab.on('user') },
    )
    expect(health.stdout).toContain('✓ health: Grid-X')
    await blocked.stop()
    holder.kill('SIGKILL')
    await holder.exited
  }, 90_000)

  describe('with a second, TLS coordinator', () => {
    let tls: Proc
    let fingerprint: string
    beforeAll(async () => {
      tls = serve('c2', ['--self-signed'])
      fingerprint = (await tls.waitFor(/SHA-256 fingerprint ([0-9A-F:]{95})/, 30_000))[1]!
      await tls.waitFor(/LAN discovery: advertising/, 30_000)
    }, 60_000)

    test('two coordinators without a terminal: refused, listing a --coordinator line for each', async () => {
      const r = await onUser(['login', '--user', 'alice', '--password', 'pw-1234567'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(
        '2 coordinators answered on the local network; choose one with --coordinator:',
      )
      expect(r.stderr).toContain(`gridx login --coordinator http://${C1}:8081`)
      expect(r.stderr).toContain(`gridx login --coordinator https://${C2}:8081`)
      expect(r.stderr).toContain(`certificate SHA-256 ${fingerprint}`)
    })

    test('the stopped coordinator says goodbye (TTL 0); the TLS one alone is not trusted without a terminal', async () => {
      const listener = Bun.spawn(
        [...lab.on('user'), process.execPath, resolve(import.meta.dir, '../support/mdns-listen.ts'), USER],
        { stdout: 'pipe' },
      )
      let heard = ''
      const reading = (async () => {
        const dec = new TextDecoder()
        for await (const chunk of listener.stdout) heard += dec.decode(chunk, { stream: true })
      })()
      while (!heard.includes('listening')) await Bun.sleep(25)
      await plain.stop()
      const deadline = Date.now() + 10_000
      while (!heard.includes(`"from":"${C1}"`) && Date.now() < deadline) await Bun.sleep(50)
      listener.kill()
      await reading
      const goodbye = heard.split('\n').filter((l) => l.includes(`"from":"${C1}"`))
      expect(goodbye.length).toBeGreaterThan(0)
      expect(goodbye.every((l) => (JSON.parse(l) as { ttl: number }).ttl === 0)).toBe(true)

      const r = await onUser(['login', '--user', 'alice', '--password', 'pw-1234567'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`found coordinator`)
      expect(r.stderr).toContain(
        `its certificate (SHA-256 ${fingerprint}) is trusted only with a yes on a terminal`,
      )
      expect(r.stderr).toContain("join line 'gridx serve' printed")
    }, 60_000)

    test('on a terminal: the fingerprint is shown, a yes pins it, and later commands trust it with no flag', async () => {
      const h = home('bob')
      const r = await onTerminal(['register', '--user', 'bob', '--password', 'pw-1234567'], h, [
        [/trust it\? \[y\/N\] $/, 'y\r'],
      ])
      expect(r.screen).toContain(`certificate SHA-256 fingerprint: ${fingerprint}`)
      expect(r.screen).toContain(`registered 'bob' on https://${C2}:8081`)
      expect(r.code).toBe(0)
      const who = await onUser(['whoami', '--json'], { GRIDX_HOME: h })
      expect(who.stderr).toBe('')
      expect(JSON.parse(who.stdout)).toMatchObject({ user: 'bob', coordinator: `https://${C2}:8081` })
      const no = await onTerminal(['login', '--user', 'bob', '--password', 'pw-1234567'], home('carol'), [
        [/trust it\? \[y\/N\] $/, 'n\r'],
      ])
      expect(no.screen).toContain('not trusted')
      expect(no.code).toBe(1)
    }, 90_000)

    test('--no-advertise: not found; the error says how to pass --coordinator and what discovery needs', async () => {
      await tls.stop()
      const quiet = serve('c1', ['--no-advertise'])
      await quiet.waitFor(/LAN discovery: off/, 30_000)
      const r = await onUser(['login', '--user', 'alice', '--password', 'pw-1234567'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('no coordinator given, and none answered on the local network within 3s')
      expect(r.stderr).toContain("'gridx login --coordinator 192.168.1.100'")
      expect(r.stderr).toContain('multicast (UDP 5353)')
    }, 60_000)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Lab, labUnavailable, startLab } from '../support/netns'
import { startTinyproxy, type TestProxy, tinyproxyMissing } from '../support/tinyproxy'
import { BB_IMAGE, type Proc, gridx, spawnGridx, tempDir } from './harness'

// Four "machines" in network namespaces on one bridge: a TLS coordinator (serve --self-signed),
// a proxy (Debian's tinyproxy), a worker host whose own firewall lets it reach nothing but the
// proxy (as on a corporate or university network), and a user's host that reaches the
// coordinator directly. The certificate file is copied to the other hosts (--ca-cert).
const skip = labUnavailable() ?? tinyproxyMissing()
if (skip) console.warn(`skipping proxy network tests: ${skip}`)

const COORD = '10.231.0.1'
const PROXY = '10.231.0.5'
const PROXY_PORT = 3128
const PROXY_URL = `http://${PROXY}:${PROXY_PORT}`
// An address with a port: the API port takes the worker socket too (a WebSocket upgrade).
const WS_URL = `wss://${COORD}:8081/ws/worker`
let lab: Lab
let serve: Proc
let proxy: TestProxy
let coordinator = ''
const procs: Proc[] = []
const dirs: string[] = []
/** Environments of the user on the user's host and of the worker's owner on the worker host. */
let sub: Record<string, string>
let owner: Record<string, string>
/** What the worker host adds to reach the coordinator: the proxy, and the copied certificate. */
const viaProxy = { HTTPS_PROXY: PROXY_URL }
let caFlag: string[] = []
/** The token of serve's 'gridx register --join' line: it pins the certificate, no file copied. */
let joinToken = ''

interface Job {
  id: string
  state: string
  worker: string | null
  attempt: number
}

function dir(name: string): string {
  const d = tempDir(`pxn-${name}`)
  dirs.push(d)
  return d
}

function on(host: string, args: string[], env: Record<string, string>) {
  return gridx(args, env, { wrap: lab.on(host), timeoutMs: 90_000 })
}

/** True when a TCP connection from `host` to addr:port opens within 2 s. */
function opens(host: string, addr: string, port: number): boolean {
  const cmd = `timeout 2 bash -c 'exec 3<>/dev/tcp/${addr}/${port}'`
  return Bun.spawnSync([...lab.on(host), 'bash', '-c', cmd]).exitCode === 0
}

/** Where a process's output is now, to wait for what it says after this. */
function mark(p: Proc): { out: number; err: number } {
  return { out: p.stdout().length, err: p.stderr().length }
}

/** Waits until `re` appears in a process's output after `from`. */
async function waitAfter(p: Proc, from: { out: number; err: number }, re: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  const since = () => `${p.stderr().slice(from.err)}${p.stdout().slice(from.out)}`
  while (!re.test(since())) {
    if (Date.now() > deadline || p.proc.exitCode !== null)
      throw new Error(`gave up waiting for ${re}:\n${since()}`)
    await Bun.sleep(100)
  }
}

/** The worker host's firewall: out through eth0 only to the proxy port; everything else dropped. */
const ONLY_PROXY = [
  ['OUTPUT', '-o', 'eth0', '-p', 'tcp', '-d', PROXY, '--dport', String(PROXY_PORT), '-j', 'ACCEPT'],
  ['OUTPUT', '-o', 'eth0', '-j', 'DROP'],
]

describe.skipIf(skip !== undefined)('a worker that can reach only a proxy (network namespaces)', () => {
  beforeAll(async () => {
    lab = startLab({ coord: COORD, px: PROXY, wk: '10.231.0.21', sub: '10.231.0.31' })
    // Heartbeats every second: a silent link is noticed after 4 s. A long lease: the job of the
    // drop test outlives the cut on the same lease.
    serve = spawnGridx(
      ['serve', '--host', '0.0.0.0', '--self-signed', '--heartbeat', '1s', '--lease-timeout', '60s'],
      { GRIDX_HOME: dir('coord') },
      lab.on('coord'),
    )
    const m = await serve.waitFor(/or by address: gridx login --coordinator (\S+) --ca-cert \S+ --user NAME/)
    coordinator = m[1]!
    const cert = (await serve.waitFor(/copy (\S+) from this machine to theirs/))[1]!
    joinToken = (await serve.waitFor(/gridx register --join (gx1_\S+) --user NAME/))[1]!
    // "Copy the certificate to the other machines": each host gets its own copy.
    const copy = (host: string) => {
      const to = join(dir(`${host}-ca`), 'coordinator.pem')
      copyFileSync(cert, to)
      return to
    }
    caFlag = ['--ca-cert', copy('wk')]
    const subCa = copy('sub')
    proxy = await startTinyproxy({
      connectPorts: [8081],
      listen: PROXY,
      port: PROXY_PORT,
      wrap: lab.on('px'),
    })
    for (const rule of ONLY_PROXY) lab.run('wk', ['iptables', '-A', ...rule])

    const base = (name: string) => ({
      GRIDX_HOME: dir(name),
      GRIDX_COORDINATOR: coordinator,
      GRIDX_USER: name,
      GRIDX_PASSWORD: 'pw-123456',
    })
    // The operator registers from the user's host (direct); the worker's owner, invited, from
    // the worker host through the proxy (its first API calls through the tunnel).
    sub = { ...base('alice'), GRIDX_CA_CERT: subCa }
    const first = await on('sub', ['register'], sub)
    if (first.code !== 0) throw new Error(`register on sub failed: ${first.stderr}`)
    const invite = await on('sub', ['invite', '--json'], sub)
    if (invite.code !== 0) throw new Error(`invite failed: ${invite.stderr}`)
    owner = base('bob')
    const code = (JSON.parse(invite.stdout) as { code: string }).code
    const r = await on('wk', ['register', '--invite', code, ...caFlag], { ...owner, ...viaProxy })
    if (r.code !== 0) throw new Error(`register on wk through the proxy failed: ${r.stderr}`)
  }, 120_000)

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')))
    await serve?.stop('SIGKILL')
    proxy?.stop()
    lab?.down()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('the lab is as claimed: the worker host reaches the proxy only; the proxy and the user reach the coordinator', () => {
    expect(opens('wk', PROXY, PROXY_PORT)).toBe(true)
    expect(opens('wk', COORD, 8081)).toBe(false)
    expect(opens('wk', COORD, 8080)).toBe(false)
    expect(opens('px', COORD, 8081)).toBe(true)
    expect(opens('sub', COORD, 8080)).toBe(true)
    // The registration above went through the proxy's tunnel.
    expect(proxy.log()).toContain(`CONNECT ${COORD}:8081`)
  })

  test('without HTTPS_PROXY the worker does not start, and doctor says the coordinator times out and suggests HTTPS_PROXY', async () => {
    const [doc, work] = await Promise.all([
      on('wk', ['doctor', '--no-docker', '--timeout', '2s', ...caFlag], owner),
      on('wk', ['work', '--name', 'direct', '--images', 'gridx-local/*', ...caFlag], owner),
    ])
    expect(doc.stdout).toContain(`✗ http port: no answer from ${COORD}:8081 (timed out)`)
    expect(doc.stdout).toContain('set HTTPS_PROXY=http://PROXY:PORT (no proxy variable is set here)')
    expect(doc.stdout).not.toContain('via proxy')
    expect(doc.code).toBe(3)
    expect(work.code).not.toBe(0)
    expect(work.stderr).toContain(`${COORD}:8081`)
    expect(work.stderr).toContain('timed out (no answer at all)')
    expect(work.stderr).toContain('set HTTPS_PROXY=http://PROXY:PORT (it is not set here)')
    expect(work.stderr).not.toContain('waiting for jobs')
  }, 60_000)

  test('with HTTPS_PROXY doctor names the proxy on every network check, and they pass through it', async () => {
    const doc = await on('wk', ['doctor', '--no-docker', '--timeout', '5s', ...caFlag], {
      ...owner,
      ...viaProxy,
    })
    const via = `via proxy ${PROXY_URL} (HTTPS_PROXY)`
    expect(doc.stdout).toContain(`✓ proxy: ${PROXY_URL} (HTTPS_PROXY) accepts TCP connections`)
    expect(doc.stdout).toContain(
      `✓ http port: ${COORD}:8081 reachable via proxy ${PROXY_URL} (CONNECT answered 200) — ${via}`,
    )
    expect(doc.stdout).toMatch(new RegExp(`✓ websocket: .*— ${via.replace(/[.()]/g, '\\$&')}`))
    expect(doc.stdout).toMatch(/✓ credentials: /)
    expect(doc.stdout).not.toContain('✗')
    expect(doc.code).toBe(0)
  })

  test('with HTTPS_PROXY a pasted join line works from a host that reaches only the proxy: the certificate is read and pinned through the tunnel, and doctor checks the pin', async () => {
    const env = { GRIDX_HOME: dir('carol'), ...viaProxy }
    const reg = await on(
      'wk',
      ['register', '--join', joinToken, '--user', 'carol', '--password', 'pw-123456'],
      env,
    )
    expect(reg.stderr).not.toContain('cannot read the TLS certificate')
    expect(reg.code).toBe(0)
    const who = await on('wk', ['whoami'], env)
    expect(who.stdout).toContain('carol')
    const doc = await on('wk', ['doctor', '--no-docker', '--timeout', '5s'], env)
    expect(doc.stdout).toMatch(
      /✓ pin: the coordinator's certificate is the pinned one \(SHA-256 (?:[0-9A-F]{2}:){31}[0-9A-F]{2}\)/,
    )
    expect(doc.stdout).not.toContain('✗')
    expect(doc.code).toBe(0)
  }, 60_000)

  test('with HTTPS_PROXY the worker connects through the proxy and runs a job submitted from another host', async () => {
    const tunnels = () => proxy.log().split(`CONNECT ${COORD}:8081`).length - 1
    const before = tunnels()
    const w = spawnGridx(
      ['work', '--name', 'wk', '--slots', '1', '--images', 'gridx-local/*', ...caFlag],
      { ...owner, ...viaProxy },
      lab.on('wk'),
    )
    procs.push(w)
    await w.waitFor(/as worker wk; waiting for jobs/, 30_000)
    // Its login and its socket each went through a tunnel (nothing else gets out of its host).
    expect(tunnels()).toBeGreaterThanOrEqual(before + 2)
    const r = await on(
      'sub',
      ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo through the proxy'],
      sub,
    )
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('through the proxy\n')
    expect(r.code).toBe(0)
    const jobs = JSON.parse(
      (await on('sub', ['jobs', '--all', '--json', '--limit', '1'], sub)).stdout,
    ) as Job[]
    expect(jobs[0]).toMatchObject({ state: 'succeeded', worker: 'wk' })
  }, 60_000)

  test('a silently dropped link: the worker says so in words, keeps its job, and is back once the rule is removed', async () => {
    const w = procs[0]!
    const job = spawnGridx(
      ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo before; sleep 20; echo after'],
      sub,
      lab.on('sub'),
    )
    procs.push(job)
    await job.waitFor(/before\n/, 30_000)
    // Both directions between the worker host and the proxy vanish: no FIN, no RST, no close frame.
    const cut = [
      ['INPUT', '-s', PROXY, '-j', 'DROP'],
      ['OUTPUT', '-d', PROXY, '-j', 'DROP'],
    ]
    const from = mark(w)
    const coordFrom = mark(serve)
    for (const rule of cut) lab.run('wk', ['iptables', '-I', rule[0]!, '1', ...rule.slice(1)])
    try {
      await waitAfter(
        w,
        from,
        new RegExp(
          `connection to ${WS_URL.replace(/[./]/g, '\\$&')} lost: no heartbeat answer for [\\d.]+ s \\(a firewall or the network dropped it\\); reconnecting in [\\d.]+ s \\(attempt 1\\)`,
        ),
        30_000,
      )
      await waitAfter(
        w,
        from,
        /cannot connect to \S+ via proxy http:\/\/10\.231\.0\.5:3128 \(HTTPS_PROXY\): timed out after 10 s, no answer \(a firewall dropping the traffic, or a wrong address\?\); next try in [\d.]+ s \(attempt 2\)/,
        30_000,
      )
      await waitAfter(serve, coordFrom, /worker wk silent for \d+ ms; closing its socket/, 30_000)
    } finally {
      for (const rule of cut) lab.run('wk', ['iptables', '-D', ...rule])
    }
    await waitAfter(w, from, /as worker wk; waiting for jobs/, 60_000)
    // The job ran on through the cut and finished on its first lease; its output is whole.
    expect(await job.proc.exited).toBe(0)
    expect(job.stdout()).toBe('before\nafter\n')
    const jobs = JSON.parse(
      (await on('sub', ['jobs', '--all', '--json', '--limit', '1'], sub)).stdout,
    ) as Job[]
    expect(jobs[0]).toMatchObject({ state: 'succeeded', worker: 'wk', attempt: 1 })
    // And it takes new work through the proxy again.
    const again = await on('sub', ['submit', '-q', '--image', BB_IMAGE, '--', 'echo', 'again'], sub)
    expect(again.stdout).toBe('again\n')
  }, 120_000)
})

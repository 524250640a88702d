import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { type Lab, labUnavailable, startLab } from '../support/netns'
import { BB_IMAGE, type Proc, gridx, spawnGridx, tempDir } from './harness'

// Three "machines" in network namespaces joined by veth pairs: the coordinator on 10.231.0.1,
// workers w1 and w2 on .11 and .12. Each worker still reaches this machine's Docker through its
// unix socket (namespaces isolate networks, not file system paths).
const skip = labUnavailable()
if (skip) console.warn(`skipping multi-host tests: ${skip}`)

const COORD = '10.231.0.1'
const WS_PORT = 8080
let lab: Lab
let serve: Proc
const procs: Proc[] = []
const homes: string[] = []
const env: Record<string, Record<string, string>> = {}

interface Job {
  id: string
  state: string
  worker: string | null
}

function home(name: string): string {
  const h = tempDir(`mh-${name}`)
  homes.push(h)
  return h
}

/** Runs gridx on a lab host. */
function on(host: string, args: string[], e: Record<string, string>) {
  return gridx(args, e, { wrap: lab.on(host), timeoutMs: 90_000 })
}

async function startWorker(host: string, name: string): Promise<Proc> {
  const w = spawnGridx(
    ['work', '--name', name, '--slots', '1', '--images', 'gridx-local/*'],
    env[host]!,
    lab.on(host),
  )
  procs.push(w)
  await w.waitFor(new RegExp(`as worker ${name}; waiting for jobs`), 30_000)
  return w
}

/** Submits `n` one-second jobs at once from w1's host; returns the workers that ran them. */
async function runJobs(n: number, tag: string): Promise<string[]> {
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      on(
        'w1',
        ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', `sleep 1; echo ${tag} ${i}`],
        env['sub']!,
      ),
    ),
  )
  runs.forEach((r, i) => {
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(`${tag} ${i}\n`)
    expect(r.code).toBe(0)
  })
  const list = await on('w1', ['jobs', '--all', '--json', '--limit', String(n)], env['sub']!)
  const jobs = JSON.parse(list.stdout) as Job[]
  expect(jobs.every((j) => j.state === 'succeeded')).toBe(true)
  return jobs.map((j) => j.worker ?? '?')
}

/** Waits until `re` appears in a process's output after `from` characters. */
async function waitAfter(p: Proc, from: number, re: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!re.test(p.stderr().slice(from) + p.stdout().slice(from))) {
    if (Date.now() > deadline || p.proc.exitCode !== null)
      throw new Error(`gave up waiting for ${re}:\n${p.stderr().slice(from)}`)
    await Bun.sleep(100)
  }
}

describe.skipIf(skip !== undefined)('several machines (network namespaces)', () => {
  beforeAll(async () => {
    lab = startLab({ coord: COORD, w1: '10.231.0.11', w2: '10.231.0.12' })
    // Heartbeats every second: a silent worker is dropped after 4 s instead of 20 s.
    serve = spawnGridx(
      ['serve', '--host', '0.0.0.0', '--heartbeat', '1s', '--lease-timeout', '10s'],
      { GRIDX_HOME: home('coord') },
      lab.on('coord'),
    )
    await serve.waitFor(/gridx coordinator listening: API http:\/\/0\.0\.0\.0:8081/)
    for (const [key, host] of [
      ['w1', 'w1'],
      ['w2', 'w2'],
      ['sub', 'w1'],
    ] as const) {
      const e = {
        GRIDX_HOME: home(key),
        GRIDX_COORDINATOR: COORD,
        GRIDX_USER: `u${key}`,
        GRIDX_PASSWORD: 'pw-123456',
      }
      // The first account is the operator; it invites the others, as on a real lab network.
      const invite: string[] = []
      if (env['w1']) {
        const made = await on('w1', ['invite', '--json'], env['w1'])
        if (made.code !== 0) throw new Error(`invite failed: ${made.stderr}`)
        invite.push('--invite', (JSON.parse(made.stdout) as { code: string }).code)
      }
      const r = await on(host, ['register', ...invite], e)
      if (r.code !== 0) throw new Error(`register on ${host} failed: ${r.stderr}`)
      env[key] = e
    }
    await startWorker('w1', 'w1')
    await startWorker('w2', 'w2')
  }, 120_000)

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')))
    await serve?.stop()
    lab?.down()
    for (const h of homes) rmSync(h, { recursive: true, force: true })
  })

  test('jobs submitted on one host run on workers on two others', async () => {
    const ran = await runJobs(4, 'hello')
    expect(new Set(ran)).toEqual(new Set(['w1', 'w2']))
  })

  test('a firewall dropping the socket port cuts the worker off; it comes back by itself', async () => {
    const w1 = procs[0]!
    const rule = ['OUTPUT', '-p', 'tcp', '-d', COORD, '--dport', String(WS_PORT), '-j', 'DROP']
    const coordFrom = serve.stdout().length
    const w1From = w1.stderr().length
    lab.run('w1', ['iptables', '-A', ...rule])
    try {
      // The coordinator hears nothing more from w1 and closes its socket.
      await waitAfter(serve, coordFrom, /worker w1 silent for \d+ ms; closing its socket/, 30_000)
      await waitAfter(
        w1,
        w1From,
        /connection to wss?:\/\/\S+ lost: .+; reconnecting in [\d.]+ s \(attempt 1\)/,
        30_000,
      )
      // Meanwhile the grid goes on with w2 alone.
      expect(await runJobs(2, 'only-w2')).toEqual(['w2', 'w2'])
      // On w1's host the doctor finds the API port open and the socket port filtered.
      const doc = await on('w1', ['doctor', '--no-docker', '--timeout', '2s'], env['w1']!)
      expect(doc.stdout).toContain(`✓ http port: ${COORD}:8081 accepts TCP connections`)
      expect(doc.stdout).toMatch(/✗ ws port: no answer from 10\.231\.0\.1:8080 \(timed out\).*firewall/)
      expect(doc.stdout).toContain('iptables')
      expect(doc.code).toBe(3)
    } finally {
      lab.run('w1', ['iptables', '-D', ...rule])
    }
    const back = w1.stderr().length
    await waitAfter(w1, back, /as worker w1; waiting for jobs/, 150_000)
    expect(new Set(await runJobs(4, 'again'))).toEqual(new Set(['w1', 'w2']))
  }, 240_000)

  test('with 100 ms of delay on every link, jobs flow and output streams while the job runs', async () => {
    const undo: (() => void)[] = []
    try {
      for (const host of ['coord', 'w1', 'w2']) {
        const d = await lab.delay(host, 100)
        undo.push(d.undo)
        if (host === 'coord') console.warn(`delay added with ${d.how}`)
      }
      // The delay is really there: a login is several round trips of at least 200 ms each.
      const t0 = performance.now()
      const login = await on('w1', ['login'], env['sub']!)
      expect(login.code).toBe(0)
      expect(performance.now() - t0).toBeGreaterThanOrEqual(200)
      expect(new Set(await runJobs(4, 'slow link'))).toEqual(new Set(['w1', 'w2']))
      const script = 'for i in 1 2 3; do echo line $i; sleep 3; done'
      const sub = spawnGridx(
        ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', script],
        env['sub']!,
        lab.on('w1'),
      )
      procs.push(sub)
      await sub.waitFor(/line 1\n/, 60_000)
      // The first line arrived while the job was still running: nothing later yet.
      expect(sub.stdout()).not.toContain('line 3')
      expect(sub.proc.exitCode).toBeNull()
      expect(await sub.proc.exited).toBe(0)
      expect(sub.stdout()).toBe('line 1\nline 2\nline 3\n')
    } finally {
      for (const u of undo) u()
    }
  }, 180_000)

  test('a coordinator bound to 127.0.0.1 refuses other hosts, and the error says why', async () => {
    const loop = spawnGridx(
      ['serve', '--host', '127.0.0.1', '--http-port', '9081', '--ws-port', '9080'],
      { GRIDX_HOME: home('loopback') },
      lab.on('coord'),
    )
    procs.push(loop)
    await loop.waitFor(/bound to loopback only/)
    const r = await on(
      'w2',
      ['login', '--coordinator', `${COORD}:9081`, '--user', 'nobody', '--password', 'whatever'],
      {
        GRIDX_HOME: home('lo-client'),
      },
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot reach the coordinator at ${COORD}:9081: connection refused`)
    expect(r.stderr).toContain('--host 127.0.0.1')
    // The doctor on the other host says refused, and that a coordinator must not be bound to 127.0.0.1.
    const doc = await on('w2', ['doctor', '--no-docker', '--coordinator', `${COORD}:9081`], {
      GRIDX_HOME: home('lo-doctor'),
    })
    expect(doc.stdout).toMatch(
      /✗ http port: connection to 10\.231\.0\.1:9081 refused: nothing listens there — fix: .*127\.0\.0\.1/,
    )
    expect(doc.code).toBe(3)
    // On the coordinator's host, doctor --serve sees it answer on loopback only.
    const local = await on(
      'coord',
      ['doctor', '--serve', '--host', '127.0.0.1', '--http-port', '9081', '--ws-port', '9080'],
      {
        GRIDX_HOME: home('lo-serve'),
      },
    )
    expect(local.stdout).toMatch(/! addresses: .*bound to 127\.0\.0\.1 \(loopback\) only/)
  })
})

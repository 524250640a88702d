import { afterEach, describe, expect, test } from 'bun:test'
import { type Grid, gridx, BB_IMAGE, spawnGridx, startGrid, tempDir } from './harness'

let grid: Grid | undefined
afterEach(async () => {
  await grid?.close()
  grid = undefined
})

interface Job {
  id: string
  state: string
  worker: string | null
  exitCode: number | null
}

async function waitAllFinal(env: Record<string, string>, n: number, ms = 60_000): Promise<Job[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await gridx(['jobs', '--all', '--json', '--limit', String(n)], env)
    const jobs = JSON.parse(r.stdout) as Job[]
    if (jobs.length >= n && jobs.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state)))
      return jobs
    if (Date.now() > deadline) throw new Error(`jobs not final: ${r.stdout}`)
    await Bun.sleep(200)
  }
}

describe('several workers', () => {
  test('ten jobs submitted at once all finish, spread over both workers', async () => {
    grid = await startGrid()
    const alice = await grid.user('alice')
    const bob = await grid.user('bob')
    await grid.worker(alice, 'w1', ['--slots', '2'])
    await grid.worker(bob, 'w2', ['--slots', '2'])
    const health = (await (await fetch(`http://127.0.0.1:${grid.httpPort}/health`)).json()) as Record<
      string,
      unknown
    >
    expect(health).toMatchObject({ status: 'ok', workers: 2, queuedJobs: 0 })
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', `sleep 0.5; echo job ${i}`], alice),
      ),
    )
    runs.forEach((r, i) => {
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`job ${i}\n`)
    })
    const jobs = await waitAllFinal(alice, 10)
    expect(jobs.every((j) => j.state === 'succeeded')).toBe(true)
    const byWorker = new Map<string, number>()
    for (const j of jobs) byWorker.set(j.worker ?? '?', (byWorker.get(j.worker ?? '?') ?? 0) + 1)
    expect([...byWorker.keys()].sort()).toEqual(['w1', 'w2'])
    const workers = JSON.parse((await gridx(['workers', '--json'], alice)).stdout) as {
      name: string
      slots: number
    }[]
    expect(workers.map((w) => w.name).sort()).toEqual(['w1', 'w2'])
  })

  test('after the coordinator restarts, the worker reconnects by itself and a new job runs', async () => {
    grid = await startGrid()
    const alice = await grid.user('alice')
    const w = await grid.worker(alice, 'w1')
    const before = w.stderr().length
    await grid.restart()
    // the worker notices, backs off, and comes back without help
    const deadline = Date.now() + 30_000
    while (!w.stderr().slice(before).includes('waiting for jobs')) {
      if (Date.now() > deadline) throw new Error(`worker did not reconnect:\n${w.stderr().slice(before)}`)
      await Bun.sleep(100)
    }
    expect(w.stderr().slice(before)).toMatch(/lost: .+; reconnecting in [\d.]+ s \(attempt 1\)/)
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'echo', 'after restart'], alice)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('after restart\n')
  })

  test('an attached submit keeps streaming across a coordinator restart', async () => {
    grid = await startGrid()
    const alice = await grid.user('alice')
    await grid.worker(alice, 'w1')
    const run = gridx(
      ['submit', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo before; sleep 3; echo after; exit 5'],
      alice,
    )
    await Bun.sleep(1500)
    await grid.restart()
    const r = await run
    expect(r.stdout).toBe('before\nafter\n')
    expect(r.code).toBe(5)
  })

  test('a job queued while no worker is connected runs once one connects', async () => {
    grid = await startGrid()
    const alice = await grid.user('alice')
    const d = await gridx(['submit', '--detach', '--image', BB_IMAGE, '--', 'echo', 'waited'], alice)
    const id = d.stdout.trim()
    const st = JSON.parse((await gridx(['status', id, '--json'], alice)).stdout) as Job
    expect(st.state).toBe('queued')
    await grid.worker(alice, 'late')
    const l = await gridx(['logs', '-f', id], alice)
    expect(l.code).toBe(0)
    expect(l.stdout).toBe('waited\n')
  })
})

describe('clear errors', () => {
  test('a bad --coordinator value is refused before any connection', async () => {
    for (const bad of ['ftp://host', 'host:99999', 'two words', 'http://:8081']) {
      const r = await gridx(['jobs', '--coordinator', bad], { GRIDX_HOME: tempDir('bad') })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/is not a coordinator address .*: use a host, host:port or URL/)
      expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
    }
  })

  test('an unreachable coordinator is named with host, port and the likely fix', async () => {
    const home = tempDir('unreach')
    const r = await gridx(
      ['login', '--coordinator', '127.0.0.1:1', '--user', 'alice', '--password', 'password-123'],
      { GRIDX_HOME: home },
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot reach the coordinator at 127\.0\.0\.1:1: connection refused/)
    expect(r.stderr).toMatch(/Is 'gridx serve' running/)
  })

  test('serve on a port in use names the port and how to change it', async () => {
    grid = await startGrid()
    const p = spawnGridx(
      ['serve', '--host', '127.0.0.1', '--http-port', String(grid.httpPort), '--ws-port', '0'],
      { GRIDX_HOME: tempDir('busy') },
    )
    const code = await p.proc.exited
    expect(code).toBe(1)
    expect(p.stderr()).toContain(`port ${grid.httpPort} on 127.0.0.1 is already in use`)
    expect(p.stderr()).toContain('--http-port or GRIDX_HTTP_PORT')
  })

  test('a worker without Docker says so with the fix', async () => {
    grid = await startGrid()
    const alice = await grid.user('alice')
    const r = await gridx(['work', '--name', 'nodocker'], {
      ...alice,
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    })
    expect(r.code).toBe(1)
    // DOCKER_HOST is set, so the message is about it, not about installing Docker.
    expect(r.stderr).toContain(
      'DOCKER_HOST points at unix:///nonexistent/docker.sock, where nothing listens (no such socket): fix DOCKER_HOST, or unset it',
    )
  })
})

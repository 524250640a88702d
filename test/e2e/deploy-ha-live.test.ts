import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../support/cli-surface'
import { BB_IMAGE, gridx, PY_IMAGE, tempDir } from './harness'

// deploy/compose-ha.yml brought up as its header says, on an internal Docker network (nothing in
// it can reach outside, nothing is published, no image is pulled: local stand-ins for postgres,
// nginx and the base image). The host reaches the containers by their addresses on that bridge.
// Then the coordinator the worker uses is killed: nginx must still answer, the worker must move
// to the other coordinator, and a new job must run.
const COMPOSE = join(ROOT, 'deploy/compose-ha.yml')
const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0
const compose = has('docker-compose') ? ['docker-compose'] : ['docker', 'compose']
const skip =
  Bun.spawnSync([...compose, 'version'], { stdout: 'pipe', stderr: 'pipe' }).exitCode !== 0
    ? 'neither docker-compose nor the docker compose plugin is installed'
    : Bun.spawnSync(['docker', 'info'], { stdout: 'pipe', stderr: 'pipe' }).exitCode !== 0
      ? 'Docker is not running'
      : undefined
if (skip) console.warn(`skipping the live run of deploy/compose-ha.yml: ${skip}`)

const project = `gxdeployha${process.pid}`
const dir = tempDir('deploy-ha')
const override = join(dir, 'internal.yml')
const env = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}),
  POSTGRES_IMAGE: 'gridx-local/postgres:15',
  NGINX_IMAGE: 'gridx-local/nginx:bookworm',
  GRIDX_BASE_IMAGE: PY_IMAGE,
  WORKER_IMAGES: 'gridx-local/*',
  POSTGRES_PASSWORD: `pw${process.pid}x${Date.now()}`,
  // Not published on an internal network anyway; loopback should it ever be.
  PUBLISH: `127.0.0.1:${20000 + (process.pid % 20000)}`,
  GRIDX_USER: 'alice',
  GRIDX_PASSWORD: 'a long secret',
}

function dc(args: string[]): string {
  const r = Bun.spawnSync([...compose, '-p', project, '-f', COMPOSE, '-f', override, ...args], {
    env,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  if (r.exitCode !== 0)
    throw new Error(`compose ${args.join(' ')}: ${r.stdout.toString()}${r.stderr.toString()}`)
  return r.stdout.toString()
}
const logs = () => {
  try {
    return dc(['logs', '--no-color', '--tail', '60'])
  } catch (err) {
    return String(err)
  }
}

/** The container of a service, and its address on the project's (internal) network. */
function container(service: string): { id: string; ip: string } {
  const id = dc(['ps', '-q', service]).trim()
  const r = Bun.spawnSync([
    'docker',
    'inspect',
    '-f',
    '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
    id,
  ])
  return { id, ip: r.stdout.toString().trim() }
}

interface Health {
  status: string
  workers: number
}
async function health(ip: string, port = 8081): Promise<Health | undefined> {
  return await fetch(`http://${ip}:${port}/health`, { signal: AbortSignal.timeout(10_000) }).then(
    async (r) => (r.ok ? ((await r.json()) as Health) : undefined),
    () => undefined,
  )
}
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const got = await probe()
    if (got !== undefined) return got
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000}s; logs:\n${logs()}`)
    await Bun.sleep(500)
  }
}

let nginx = ''
let coordinators: Record<string, string> = {}
const bob = () => ({ GRIDX_HOME: join(dir, 'bob'), GRIDX_COORDINATOR: `http://${nginx}:80` })
const direct = (ip: string) => ({ GRIDX_HOME: join(dir, 'bob-direct'), GRIDX_COORDINATOR: ip })
// A busybox echo takes a few seconds; 40 s is room for a loaded machine, not for a lost wake-up.
const submit = (text: string, to = bob()) =>
  gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'echo', text], to, { timeoutMs: 40_000 })
/** The coordinator the worker is connected to, by each one's own /health. */
async function workerOn(): Promise<string | undefined> {
  for (const [name, ip] of Object.entries(coordinators)) if ((await health(ip))?.workers === 1) return name
  return undefined
}

describe.skipIf(skip !== undefined)('deploy/compose-ha.yml, live', () => {
  beforeAll(() => {
    const made = Bun.spawnSync(['bash', join(ROOT, 'scripts/local-deploy-images.sh')], { stderr: 'pipe' })
    if (made.exitCode !== 0) throw new Error(`local-deploy-images.sh: ${made.stderr.toString()}`)
    writeFileSync(override, 'networks:\n  default:\n    internal: true\n')
    // up -d waits for postgres, then for both coordinators, to be healthy before nginx starts.
    dc(['up', '-d', 'postgres', 'gridx-a', 'gridx-b', 'nginx'])
    nginx = container('nginx').ip
    coordinators = { 'gridx-a': container('gridx-a').ip, 'gridx-b': container('gridx-b').ip }
  }, 170_000)

  afterAll(() => {
    if (!skip) dc(['down', '-v', '--timeout', '10'])
    rmSync(dir, { recursive: true, force: true })
  })

  test('both coordinators answer /health on the shared database, and nginx answers for them', async () => {
    for (const ip of Object.values(coordinators)) expect((await health(ip))?.status).toBe('ok')
    expect((await until('nginx answers /health', 20_000, () => health(nginx, 80)))?.status).toBe('ok')
  })

  test('the documented steps: alice registers and starts the worker, bob joins through nginx', async () => {
    dc(['run', '--rm', '--no-deps', 'worker', 'gridx', 'register'])
    dc(['up', '-d', '--no-deps', 'worker'])
    await until('the worker connects to a coordinator', 60_000, workerOn)
    const invite = JSON.parse(
      dc(['run', '--rm', '--no-deps', 'worker', 'gridx', 'invite', '--json']).trim().split('\n').at(-1)!,
    ) as { code: string }
    // Made on gridx-a (the worker's first address), used through nginx: one grid, one database.
    const joined = await gridx(
      ['register', '--invite', invite.code, '--user', 'bob', '--password', 'pw-123456'],
      bob(),
    )
    expect(joined.stderr).toContain(`registered 'bob' on http://${nginx}:80`)
    expect(joined.code).toBe(0)
    // Its own home for the coordinators' own addresses: tokens are kept per address.
    for (const ip of Object.values(coordinators)) {
      const login = await gridx(['login', '--user', 'bob', '--password', 'pw-123456'], direct(ip))
      expect(login.code, login.stderr).toBe(0)
    }
  }, 120_000)

  // A job queued through the coordinator without the worker runs all the same: the other hears of
  // it (LISTEN/NOTIFY), and its output is relayed back.
  test('jobs through nginx and straight to either coordinator run on the one worker', async () => {
    const r = await submit('through nginx')
    expect(r.stdout).toBe('through nginx\n')
    for (const [name, ip] of Object.entries(coordinators)) {
      const got = await submit(`queued on ${name}`, direct(ip))
      expect(got.stderr).toBe('')
      expect(got.stdout).toBe(`queued on ${name}\n`)
    }
  }, 150_000)

  test("docker kill of the worker's coordinator: nginx still answers, the worker moves, a job runs", async () => {
    const dead = await until('the worker is connected', 30_000, workerOn)
    const alive = Object.keys(coordinators).find((c) => c !== dead)!
    const killed = Bun.spawnSync(['docker', 'kill', container(dead).id], { stderr: 'pipe' })
    expect(killed.exitCode, killed.stderr.toString()).toBe(0)
    const started = Date.now()
    // Every request through nginx is answered: the dead upstream is skipped.
    for (let i = 0; i < 6; i++) expect((await health(nginx, 80))?.status, `request ${i}`).toBe('ok')
    await until(`the worker reconnects to ${alive}`, 60_000, async () =>
      (await health(coordinators[alive]!))?.workers === 1 ? true : undefined,
    )
    console.log(`worker on ${alive} ${((Date.now() - started) / 1000).toFixed(1)}s after docker kill ${dead}`)
    const r = await submit('after the kill')
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('after the kill\n')
    const workers = JSON.parse((await gridx(['workers', '--json'], bob())).stdout) as { status?: string }[]
    expect(workers).toHaveLength(1)
  }, 150_000)

  test('the documented backup, pg_dump in the postgres service, holds the grid: bob is in it', () => {
    const dump = dc(['exec', '-T', 'postgres', 'pg_dump', '-U', 'gridx', 'gridx'])
    expect(dump).toContain('PostgreSQL database dump complete')
    expect(dump).toMatch(/^COPY public\.\w+ /m)
    expect(dump).toMatch(/\tbob\t/)
  })
})

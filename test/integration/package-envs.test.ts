import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { newSigningKey, signReceipt, verifyReceipt } from '../../src/protocol/receipt'
import { JobSpec, type WorkerMessage } from '../../src/protocol/worker'
import { connectDocker, dockerCandidates, type DockerRuntime } from '../../src/worker/docker'
import type { DockerEnvRuntime } from '../../src/worker/docker-env'
import { Environments, type PackagePolicy } from '../../src/worker/env/environments'
import { Executor } from '../../src/worker/executor'
import { tempDir } from '../e2e/harness'
import { type PackageIndex, PY_IMAGE, startPackageIndex } from '../support/package-index'

// Jobs that declare Python packages, against real Docker: the worker installs them in a container
// of its own from an index on an internal network, caches the environment, and mounts it
// read-only into a job that still has no network. The coordinator's half (which copies a job's
// requirements into its JobSpec) is another branch: these tests hand the executor JobSpecs directly.

const key = newSigningKey()
let docker: DockerRuntime
let envRuntime: DockerEnvRuntime
let index: PackageIndex
const homes: string[] = []
const workerIds: string[] = []

beforeAll(async () => {
  docker = await connectDocker(dockerCandidates({ dockerHost: undefined, home: '/root', uid: 0 }))
  envRuntime = docker.envRuntime()
  index = await startPackageIndex('pkgworker')
}, 60_000)

afterAll(async () => {
  index?.stop()
  for (const id of workerIds) {
    // A job's container is removed after its result: a test may end first.
    await docker.removeLeftovers(id)
    for (const v of await envRuntime.listVolumes({ 'gridx.worker': id }))
      await envRuntime.removeVolume(v.name)
  }
  for (const h of homes) rmSync(h, { recursive: true, force: true })
})

type Result = Extract<WorkerMessage, { type: 'job.result' }>

/** A worker: an executor with package environments, on a fresh GRIDX_HOME. */
function worker(policy: Partial<PackagePolicy> | null = {}, installTimeoutMs?: number) {
  const home = tempDir('pkgw')
  homes.push(home)
  const workerId = `wpkgw${Math.random().toString(36).slice(2, 10)}`
  workerIds.push(workerId)
  const logs: string[] = []
  const envs =
    policy === null
      ? undefined
      : new Environments({
          runtime: envRuntime,
          workerId,
          workerName: 'pkg-test-worker',
          home,
          policy: {
            index: index.url,
            network: index.network,
            cacheBytes: 10 * 1024 ** 3,
            allowSource: false,
            ...policy,
          },
          log: (l) => logs.push(l),
          installTimeoutMs,
        })
  const reports = new Map<string, WorkerMessage[]>()
  const executor = new Executor({
    runtime: docker,
    workerId,
    sign: (body) => signReceipt(body, key),
    report: (m) => {
      const list = reports.get(m.lease.jobId) ?? []
      list.push(m)
      reports.set(m.lease.jobId, list)
    },
    transfer: {
      inputs: () => Promise.reject(new Error('no inputs in these tests')),
      putOutputs: () => Promise.resolve(),
    },
    log: (l) => logs.push(l),
    images: ['gridx-local/*'],
    pull: false,
    maxDiskBytes: 64 * 1024 ** 2,
    limits: { cpus: 2, memoryBytes: 2 * 1024 ** 3, maxTimeoutMs: null },
    envs,
  })
  let n = 0
  /** Runs a script job; returns its result, output and how long it took from hand-over to result. */
  const run = async (script: string, requirements: string[], extra: Record<string, unknown> = {}) => {
    const jobId = `jpkgw${Date.now().toString(36)}${n++}`
    // A JobSpec as a coordinator would send it; `raw` skips the schema, as a hostile one could.
    const fields = {
      jobId,
      attempt: 1,
      image: PY_IMAGE,
      command: [],
      script: { name: 'job.py', contentBase64: Buffer.from(script).toString('base64') },
      args: [],
      timeoutMs: 120_000,
      cpus: 1,
      memoryBytes: 256 * 1024 ** 2,
      requirements,
      ...extra,
    }
    const job = extra['raw']
      ? { ...JobSpec.parse({ ...fields, requirements: [] }), requirements }
      : JobSpec.parse(fields)
    const t0 = performance.now()
    await executor.run(job)
    const ms = performance.now() - t0
    const msgs = reports.get(jobId) ?? []
    const text = (stream: 'stdout' | 'stderr') =>
      msgs
        .filter((m) => m.type === 'job.output' && m.stream === stream)
        .map((m) => Buffer.from((m as { dataBase64: string }).dataBase64, 'base64').toString())
        .join('')
    const result = msgs.find((m): m is Result => m.type === 'job.result')
    if (!result) throw new Error(`no result for ${jobId}: ${JSON.stringify(msgs)}`)
    return {
      result,
      stdout: text('stdout'),
      stderr: text('stderr'),
      started: msgs.some((m) => m.type === 'job.started'),
      ms,
    }
  }
  return { run, envs, workerId, logs, executor }
}

const IMPORT_BOTH = `
import gridx_alpha, gridx_beta, subprocess, sys, os
print('alpha', gridx_alpha.__version__, 'beta', gridx_beta.__version__)
print(gridx_beta.shout())
print('interfaces', sorted(n for _, n in __import__('socket').if_nameindex()))
try:
    open('/gridx/env/site/gridx_alpha/__init__.py', 'a').write('# changed by a job')
    print('env writable')
except OSError as e:
    print('env read-only', e.errno)
try:
    os.mkdir('/gridx/env/site/evil')
    print('env writable')
except OSError as e:
    print('env read-only', e.errno)
listed = subprocess.run([sys.executable, '-m', 'pip', 'list', '--disable-pip-version-check'], capture_output=True, text=True).stdout
print('pip list sees', [l.split()[0] for l in listed.splitlines() if l.startswith('gridx')])
`

describe('package environments', () => {
  const w = () => shared
  let shared: ReturnType<typeof worker>

  test('installs a package and its dependency, the job imports both, with no network and a read-only environment', async () => {
    shared = worker()
    const before = index.downloads()
    const r = await w().run(IMPORT_BOTH, ['gridx-beta>=2'])
    expect(r.stderr).toContain('installing 1 package on pkg-test-worker (cached environment not found)')
    // The installer's own progress lines, passed on live.
    expect(r.stderr).toMatch(/Collecting gridx-beta/)
    expect(r.stderr).toMatch(/Successfully installed gridx-alpha-1.0.0 gridx-beta-2.1.0/)
    expect(r.result.outcome).toBe('exited')
    expect(r.result.exitCode).toBe(0)
    expect(r.stdout).toContain('alpha 1.0.0 beta 2.1.0')
    expect(r.stdout).toContain('HELLO FROM A DATA FILE')
    expect(r.stdout).toContain("interfaces ['lo']")
    expect(r.stdout).toContain('env read-only 30') // EROFS, twice: no file changed, none added
    expect(r.stdout).not.toContain('env writable')
    expect(r.stdout).toContain("pip list sees ['gridx-alpha', 'gridx-beta']")
    expect(index.downloads() - before).toBe(2)
    expect(verifyReceipt(r.result.receipt, key.publicKey)?.outcome).toBe(r.result.outcome)
    console.log(`first install run: ${Math.round(r.ms)} ms`)
  }, 180_000)

  test('the same requirements again use the cached environment: nothing downloaded, about as fast as a job without packages', async () => {
    const before = index.downloads()
    // Written differently, the same need: the key is over the normalised list.
    const again = await w().run(IMPORT_BOTH, ['GRIDX_Beta >= 2'])
    expect(again.stderr).toMatch(/^gridx: using cached environment [0-9a-f]{12}\n/)
    expect(again.stderr).not.toContain('installing')
    expect(again.stdout).toContain('alpha 1.0.0 beta 2.1.0')
    expect(again.stdout).toContain('HELLO FROM A DATA FILE') // the earlier job could not change it
    expect(index.downloads()).toBe(before)
    const plain = "print('hi')"
    const cachedMs: number[] = []
    const plainMs: number[] = []
    for (let i = 0; i < 3; i++) {
      plainMs.push((await w().run(plain, [])).ms)
      cachedMs.push((await w().run(plain, ['gridx-beta>=2'])).ms)
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[1] ?? 0
    console.log(
      `cached-environment job ${Math.round(median(cachedMs))} ms vs no-deps job ${Math.round(median(plainMs))} ms (medians of 3)`,
    )
    // Generous on a loaded 2-core box; the figures are in the log.
    expect(median(cachedMs)).toBeLessThan(median(plainMs) * 1.5 + 300)
    expect(index.downloads()).toBe(before)
  }, 180_000)

  test("a package that does not exist: install_failed, not retryable, the installer's reason on stderr, no job container", async () => {
    const r = await w().run("print('never')", ['gridx-nosuch==1.0'])
    expect(r.result.outcome).toBe('install_failed')
    expect(r.result.retryable).toBe(false)
    expect(r.started).toBe(false)
    expect(r.result.durationMs).toBe(0)
    expect(r.result.error).toContain('no matching package')
    expect(r.result.error).toContain('No matching distribution found for gridx-nosuch==1.0')
    expect(r.stderr).toContain('No matching distribution found for gridx-nosuch==1.0')
    expect(r.stdout).toBe('')
    expect(verifyReceipt(r.result.receipt, key.publicKey)?.outcome).toBe(r.result.outcome)
    // Half-made environments are removed, never cached.
    const volumes = await envRuntime.listVolumes({ 'gridx.worker': w().workerId })
    expect(volumes.length).toBe(1)
  }, 120_000)

  test('requires-python the image does not meet, and a URL requirement a hostile coordinator sends, are refused before any install', async () => {
    const before = index.downloads()
    const py = await w().run("print('never')", ['gridx-alpha'], { requiresPython: '>=3.99' })
    expect(py.result.outcome).toBe('install_failed')
    expect(py.result.retryable).toBe(false)
    expect(py.result.error).toMatch(
      /requires Python >=3.99, and gridx-local\/python:bookworm has Python 3\.\d+/,
    )
    const url = await w().run("print('never')", ['gridx-alpha @ http://169.254.169.254/x.whl'], { raw: true })
    expect(url.result.outcome).toBe('install_failed')
    expect(url.result.retryable).toBe(false)
    expect(url.result.error).toContain('direct URL requirements (name @ URL) are not allowed')
    expect(url.stderr).toContain('direct URL requirements')
    const option = await w().run("print('never')", ['--extra-index-url=http://evil/'], { raw: true })
    expect(option.result.error).toContain('pip options')
    expect(index.downloads()).toBe(before)
    expect((await envRuntime.listVolumes({ 'gridx.worker': w().workerId })).length).toBe(1)
  }, 120_000)

  test('a worker with --no-packages refuses such a job as install_failed, retryable elsewhere', async () => {
    const r = await worker(null).run("print('never')", ['gridx-alpha'])
    expect(r.result.outcome).toBe('install_failed')
    expect(r.result.retryable).toBe(true)
    expect(r.result.error).toContain('--no-packages')
    expect(r.started).toBe(false)
  })

  test("an unreachable index is the node's problem: install_failed, retryable", async () => {
    const r = await worker({ index: index.unreachableUrl }).run("print('never')", ['gridx-alpha'])
    expect(r.result.outcome).toBe('install_failed')
    expect(r.result.retryable).toBe(true)
    expect(r.result.error).toContain('the package index is unreachable from this worker')
    expect(r.stderr).toMatch(/Connection refused|NewConnectionError/)
    expect(r.started).toBe(false)
  }, 180_000)
})

describe('the environment cache', () => {
  test('two jobs with the same new requirements at once install once', async () => {
    const w = worker()
    const before = index.downloads()
    const [a, b] = await Promise.all([
      w.run('import gridx_alpha; print(gridx_alpha.__version__)', ['gridx-alpha==1.0.0']),
      w.run('import gridx_alpha; print(gridx_alpha.__version__)', ['gridx-alpha==1.0.0']),
    ])
    expect(a.stdout).toBe('1.0.0\n')
    expect(b.stdout).toBe('1.0.0\n')
    expect(index.downloads() - before).toBe(1)
    expect([a.stderr, b.stderr].filter((s) => s.includes('waiting for environment')).length).toBe(1)
  }, 180_000)

  test('past --env-cache the least recently used environment goes, but never one a running job uses', async () => {
    // Each environment with gridx-gamma takes over 600 KB; two do not fit in 1 MB.
    const w = worker({ cacheBytes: 1024 ** 2 })
    const first = w.run("import gridx_gamma, time; time.sleep(4); print('first done')", ['gridx-gamma'])
    for (let i = 0; i < 600 && !w.logs.some((l) => l.includes('installed in')); i++) await Bun.sleep(100)
    await Bun.sleep(500)
    const second = await w.run("import gridx_gamma, gridx_alpha; print('second done')", [
      'gridx-gamma',
      'gridx-alpha',
    ])
    expect(second.stdout).toBe('second done\n')
    // The cache is past its size: the second (not in use once it ended) went, the first (still
    // running) stayed, though it is the least recently used.
    const volumes = () => envRuntime.listVolumes({ 'gridx.worker': w.workerId })
    for (let i = 0; i < 50 && (await volumes()).length > 1; i++) await Bun.sleep(100)
    const during = await volumes()
    expect(during.length).toBe(1)
    expect((await first).stdout).toBe('first done\n')
    expect(w.logs.some((l) => /environment [0-9a-f]{12} removed .*past 1 MiB/.test(l))).toBe(true)
    const again = await w.run("import gridx_gamma; print('third done')", ['gridx-gamma'])
    expect(again.stderr).toContain('using cached environment')
    expect((await envRuntime.listVolumes({ 'gridx.worker': w.workerId })).map((v) => v.name)).toEqual(
      during.map((v) => v.name),
    )
    // A third environment pushes out the least recently used one no job uses.
    await w.run("print('fourth done')", ['gridx-gamma', 'gridx-beta'])
    for (let i = 0; i < 50 && (await volumes()).length > 1; i++) await Bun.sleep(100)
    const after = await volumes()
    expect(after.length).toBe(1)
    expect(after[0]?.name).not.toBe(during[0]?.name)
  }, 240_000)

  test('a half-made environment left by a crash is removed at start', async () => {
    const w = worker()
    const name = `gridx-env-${w.workerId}-halfmade`
    await envRuntime.createVolume(name, { 'gridx.worker': w.workerId, 'gridx.env': 'f'.repeat(64) })
    expect(await w.envs!.removeLeftovers()).toEqual([name])
    expect(await envRuntime.listVolumes({ 'gridx.worker': w.workerId })).toEqual([])
  })
})

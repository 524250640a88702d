import { afterAll, beforeAll, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { newSigningKey, signReceipt } from '../../src/protocol/receipt'
import { JobSpec, type WorkerMessage } from '../../src/protocol/worker'
import { connectDocker, dockerCandidates, type DockerRuntime } from '../../src/worker/docker'
import type { DockerEnvRuntime } from '../../src/worker/docker-env'
import { Environments } from '../../src/worker/env/environments'
import { Executor } from '../../src/worker/executor'
import { tempDir } from '../e2e/harness'
import { type PackageIndex, PY_IMAGE, startPackageIndex } from '../support/package-index'

// A stop (a cancel, a lost lease, a drain timeout, the worker stopping: all reach the executor as
// cancel or abandon) must end an install under way at once, against real Docker: the index
// stalls on gridx-slow's wheel, so only a kill ends that install before pip gives up minutes later.

const key = newSigningKey()
let docker: DockerRuntime
let envRuntime: DockerEnvRuntime
let index: PackageIndex
const homes: string[] = []
const workerIds: string[] = []

beforeAll(async () => {
  docker = await connectDocker(dockerCandidates({ dockerHost: undefined, home: '/root', uid: 0 }))
  envRuntime = docker.envRuntime()
  index = await startPackageIndex('pkgcancel')
}, 60_000)

afterAll(async () => {
  index?.stop()
  for (const id of workerIds) {
    await docker.removeLeftovers(id)
    for (const v of await envRuntime.listVolumes({ 'gridx.worker': id }))
      await envRuntime.removeVolume(v.name)
  }
  for (const h of homes) rmSync(h, { recursive: true, force: true })
})

/** This worker's containers of any kind (job, probe, install), running or not. */
function containers(workerId: string): string[] {
  const r = Bun.spawnSync(['docker', 'ps', '-aq', '--filter', `label=gridx.worker=${workerId}`])
  return r.stdout.toString().split('\n').filter(Boolean)
}

const volumes = async (workerId: string) =>
  (await envRuntime.listVolumes({ 'gridx.worker': workerId })).length

/** Polls `ok` for up to `ms`; true once it holds. */
async function within(ms: number, ok: () => boolean | Promise<boolean>): Promise<boolean> {
  for (const end = performance.now() + ms; performance.now() < end; await Bun.sleep(100))
    if (await ok()) return true
  return ok()
}

function worker() {
  const home = tempDir('pkgc')
  homes.push(home)
  const workerId = `wpkgc${Math.random().toString(36).slice(2, 10)}`
  workerIds.push(workerId)
  const envs = new Environments({
    runtime: envRuntime,
    workerId,
    workerName: 'cancel-test-worker',
    home,
    policy: { index: index.url, network: index.network, cacheBytes: 10 * 1024 ** 3, allowSource: false },
    log: () => undefined,
  })
  const results = new Map<string, Extract<WorkerMessage, { type: 'job.result' }>>()
  const executor = new Executor({
    runtime: docker,
    workerId,
    sign: (body) => signReceipt(body, key),
    report: (m) => void (m.type === 'job.result' && results.set(m.lease.jobId, m)),
    transfer: { inputs: () => Promise.reject(new Error('no inputs')), putOutputs: () => Promise.resolve() },
    log: () => undefined,
    images: ['gridx-local/*'],
    pull: false,
    maxDiskBytes: 64 * 1024 ** 2,
    limits: { cpus: 2, memoryBytes: 2 * 1024 ** 3, maxTimeoutMs: null },
    envs,
  })
  let n = 0
  /** Starts a job; `done` settles when the executor is finished with it. */
  const start = (requirements: string[], script = "print('ran')") => {
    const jobId = `jpkgc${Date.now().toString(36)}${n++}`
    const job = JobSpec.parse({
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
    })
    let settled = false
    const done = executor.run(job).then(() => void (settled = true))
    return { lease: { jobId, attempt: 1 }, done, settled: () => settled, result: () => results.get(jobId) }
  }
  return { start, executor, workerId }
}

/** Waits until one more install is stuck on the slow wheel. */
async function stalled(before: number): Promise<void> {
  expect(await within(90_000, () => index.stalls() > before)).toBe(true)
}

test('a job cancelled while its install stalls ends at once: cancelled, install container and volume gone, slot free', async () => {
  const w = worker()
  const before = index.stalls()
  const job = w.start(['gridx-slow'])
  await stalled(before)
  expect(containers(w.workerId).length).toBe(1) // the install container, stuck in its download
  const t0 = performance.now()
  w.executor.cancel(job.lease, 'cancelled by its owner')
  // Today's main waits for pip to give up on the download (minutes): this bound fails there.
  expect(await within(15_000, job.settled)).toBe(true)
  const settledMs = performance.now() - t0
  const r = job.result()
  expect(r?.outcome).toBe('cancelled')
  expect(r?.exitCode).toBeNull()
  expect(r?.durationMs).toBe(0)
  expect(w.executor.busy).toBe(0)
  expect(
    await within(5_000, async () => containers(w.workerId).length === 0 && (await volumes(w.workerId)) === 0),
  ).toBe(true)
  console.log(
    `cancel to result: ${Math.round(settledMs)} ms; to no container and no volume: ${Math.round(performance.now() - t0)} ms`,
  )
  // The slot is free and nothing half-made is cached: the next job installs and runs.
  const next = w.start(['gridx-alpha'], 'import gridx_alpha; print(gridx_alpha.__version__)')
  await next.done
  expect(next.result()?.outcome).toBe('exited')
  expect(next.result()?.exitCode).toBe(0)
}, 180_000)

test('two jobs wait on one install: the first cancelled, the second keeps it; the worker stopping then ends it at once', async () => {
  const w = worker()
  const before = index.stalls()
  const a = w.start(['gridx-slow'])
  await stalled(before)
  const b = w.start(['gridx-slow'])
  await Bun.sleep(1000) // b has joined a's install (it makes no container of its own)
  w.executor.cancel(a.lease, 'cancelled by its owner')
  expect(await within(15_000, a.settled)).toBe(true)
  expect(a.result()?.outcome).toBe('cancelled')
  // b still needs it: the install goes on for b, not killed under it, and b is still waiting.
  await Bun.sleep(1000)
  expect(b.settled()).toBe(false)
  expect(containers(w.workerId).length).toBe(1)
  expect(await volumes(w.workerId)).toBe(1)
  // The worker stops (or its drain times out): b is handed back, and nothing needs the install now.
  const t0 = performance.now()
  w.executor.abandon(b.lease)
  expect(await within(15_000, b.settled)).toBe(true)
  expect(b.result()).toBeUndefined() // handed back: no result, the coordinator reruns it
  expect(w.executor.busy).toBe(0)
  expect(
    await within(5_000, async () => containers(w.workerId).length === 0 && (await volumes(w.workerId)) === 0),
  ).toBe(true)
  console.log(`abandon to no container and no volume: ${Math.round(performance.now() - t0)} ms`)
}, 180_000)

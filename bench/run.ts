// `make bench`: Grid-X against plain `docker run`, latency of one trivial job and throughput of many.
// Environment: BENCH_ROUNDS (30), BENCH_WARMUP (2), BENCH_JOBS (200), BENCH_SUBMIT_PARALLEL (16),
// BENCH_API_VARIANT (1: also time submissions straight to the HTTP API), BENCH_KEEP (1: keep the temp dir),
// BENCH_QUIET_WAIT_MS (120000: longest wait for other work on the machine to calm down before a measurement),
// BENCH_DISPATCH (1: also the dispatch bench with simulated workers on SQLite and PostgreSQL, bench/dispatch.ts),
// BENCH_IDLE (1: also what 10,000 and 20,000 idle workers cost, bench/idle-workers.ts),
// BENCH_CLI (1: also the CPU a client process costs to start against docker's, bench/cli-start.ts).
import { envInt } from './env'
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { BenchGrid } from './grid'
import { latency, type LatencyResult } from './latency'
import { type Background, run } from './proc'
import { NoiseMeter } from './noise'
import { dispatchBench } from './dispatch'
import { dispatchResults } from './dispatch-report'
import { idleWorkersBench } from './idle-workers'
import { cliStartBench } from './cli-start'
import { CpuMeter, EventLog, pidsNamed } from './profile'
import { report } from './report'
import { quantile } from './stats'
import { dockerThroughput, gridxThroughput, type Throughput } from './throughput'
import { IMAGE, writeScript } from './workload'

const ROOT = resolve(import.meta.dir, '..')
const BUILT = join(ROOT, 'dist', 'gridx')
const RESULTS = join(import.meta.dir, 'results.json')
const TARGET = 1.1
const SLOTS = 2

const log = (line: string) => console.log(line)

/** Everything started is stopped here, newest first, on success, failure or a signal. */
class Cleanup {
  private readonly steps: [string, () => unknown][] = []
  private ran = false

  add(label: string, step: () => unknown): void {
    this.steps.push([label, step])
  }

  track = (p: Background) => this.add(`stop ${p.label}`, () => p.stop())

  async run(): Promise<void> {
    if (this.ran) return
    this.ran = true
    for (const [label, step] of this.steps.reverse()) {
      try {
        await step()
      } catch (err) {
        console.error(`bench: cleanup step '${label}' failed: ${String(err)}`)
      }
    }
  }
}

async function preflight(): Promise<void> {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run 'make build' first`)
  const info = await run(['docker', 'info', '--format', '{{.ServerVersion}}'])
  if (info.code !== 0)
    throw new Error(`Docker does not answer (run 'bash scripts/docker-up.sh'): ${info.stderr}`)
  const img = await run(['docker', 'image', 'inspect', '--format', '{{.Id}}', IMAGE])
  if (img.code !== 0)
    throw new Error(`image ${IMAGE} is missing: run 'bash scripts/local-images.sh' (never pulled)`)
}

/** Containers of this bench's worker that Docker still has (removal is asynchronous in Grid-X). */
async function gridxContainers(workerId: string | undefined): Promise<string[]> {
  if (!workerId) return []
  const r = await run(['docker', 'ps', '-aq', '--filter', `label=gridx.worker=${workerId}`])
  return r.stdout.split('\n').filter(Boolean)
}

/** Waits until the worker has removed its containers, so one measurement does not bleed into the next. */
async function settle(grid: BenchGrid): Promise<void> {
  const deadline = Date.now() + 60_000
  while ((await gridxContainers(grid.workerId)).length > 0 && Date.now() < deadline) await Bun.sleep(200)
  await Bun.sleep(1000)
}

/** Median wall time of a short command, `n` runs. */
async function medianOf(argv: string[], env: Record<string, string> | undefined, n = 5): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const r = await run(argv, env ? { env } : {})
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr}`)
    times.push(r.ms)
  }
  return quantile(times, 0.5)
}

async function main(cleanup: Cleanup): Promise<number> {
  const rounds = envInt('BENCH_ROUNDS', 30, 1)
  const warmup = envInt('BENCH_WARMUP', 2, 0)
  const jobs = envInt('BENCH_JOBS', 200, 1)
  const parallel = envInt('BENCH_SUBMIT_PARALLEL', 16, 1)
  const quietMs = envInt('BENCH_QUIET_WAIT_MS', 120_000, 0)
  const apiVariant = envInt('BENCH_API_VARIANT', 1, 0) > 0
  await preflight()

  const tmp = mkdtempSync(join(tmpdir(), 'gridx-bench-'))
  if (process.env['BENCH_KEEP'] === '1') log(`keeping ${tmp}`)
  else cleanup.add('remove temp dir', () => rmSync(tmp, { recursive: true, force: true }))
  const script = writeScript(tmp)
  // A private copy: a rebuild of dist/gridx during the run must not mix two versions.
  const bin = join(tmp, 'gridx')
  copyFileSync(BUILT, bin)
  const binary = `${(await run([bin, '--version'])).stdout.trim()}, built ${statSync(BUILT).mtime.toISOString()}`

  const events = new EventLog()
  cleanup.track(events.process)
  await events.ready()

  log(`starting a coordinator from a copy of ${BUILT} (${binary})`)
  const grid = await BenchGrid.start(bin, tmp, cleanup.track)
  cleanup.add('remove leftover gridx containers', async () => {
    const ids = await gridxContainers(grid.workerId)
    if (ids.length) await run(['docker', 'rm', '-f', ...ids])
  })
  log(`  coordinator on http ${grid.httpPort}, ws ${grid.wsPort}`)
  await grid.register()
  // 10 credits of escrow per job (1 CPU x 10 min), for every job the run submits, twice over.
  const credits = 20 * (rounds + warmup + jobs * (apiVariant ? 2 : 1)) + 100
  if (await grid.fund(credits)) log(`  granted ${credits} credits to the bench account`)
  await grid.startWorker('bench-worker', SLOTS, cleanup.track)
  log(`  worker bench-worker (${grid.workerId}) ready with ${SLOTS} slots`)
  const noise = new NoiseMeter()
  noise.start()
  cleanup.add('stop the noise meter', () => noise.stop())
  // On a shared machine, wait (bounded) for other work to calm down before each measurement.
  const quiet = async (maxMs: number) => {
    const waited = await noise.quiet(maxMs)
    if (waited > 1500)
      log(`  (waited ${(waited / 1000).toFixed(1)} s for other work on the machine to calm down)`)
  }
  const cpu = new CpuMeter(
    {
      coordinator: grid.serve.pid,
      worker: grid.worker?.pid,
      dockerd: pidsNamed('dockerd')[0],
      containerd: pidsNamed('containerd')[0],
    },
    noise,
  )

  const startup = {
    'gridx --version': await medianOf([bin, '--version'], undefined),
    'gridx jobs --json --limit 1': await medianOf([bin, 'jobs', '--json', '--limit', '1'], grid.clientEnv),
    'docker --version': await medianOf(['docker', '--version'], undefined),
    'docker version (asks the daemon)': await medianOf(['docker', 'version'], undefined),
  }

  log(`\nlatency: ${rounds} rounds (+${warmup} warm-up), gridx submit vs docker run, order alternating`)
  const before = cpu.snapshot()
  const latStart = performance.now()
  const lat: LatencyResult = await latency(grid, script, rounds, warmup, events, log, () =>
    quiet(quietMs / 5),
  )
  const latCpu = cpu.since(before)
  const latWallMs = performance.now() - latStart
  await settle(grid)

  log(`\nthroughput: ${jobs} jobs, 1 worker with ${SLOTS} slots vs xargs -P${SLOTS} docker run`)
  log(`  gridx submit --detach, ${parallel} at a time`)
  await quiet(quietMs)
  const gridxTp: Throughput = await gridxThroughput(grid, script, jobs, parallel, 'cli', cpu, log)
  log(`  -> ${(gridxTp.wallMs / 1000).toFixed(2)} s, ${gridxTp.failures} failed`)
  await settle(grid)
  log(`  xargs -P${SLOTS} docker run --rm ...`)
  await quiet(quietMs)
  const dockerTp = await dockerThroughput(jobs, SLOTS, cpu)
  log(`  -> ${(dockerTp.wallMs / 1000).toFixed(2)} s, ${dockerTp.failures} failed`)
  let apiTp: Throughput | undefined
  if (apiVariant) {
    await settle(grid)
    log(`  diagnostic: the same ${jobs} jobs POSTed straight to /api/jobs (no CLI processes)`)
    await quiet(quietMs)
    apiTp = await gridxThroughput(grid, script, jobs, parallel, 'api', cpu, log)
    log(`  -> ${(apiTp.wallMs / 1000).toFixed(2)} s, ${apiTp.failures} failed`)
  }

  const results = report({
    target: TARGET,
    config: { rounds, warmup, jobs, slots: SLOTS, submitParallel: parallel, image: IMAGE, binary },
    startup,
    latency: lat,
    latencyCpuMs: latCpu,
    latencyWallMs: latWallMs,
    gridxThroughput: gridxTp,
    dockerThroughput: dockerTp,
    apiThroughput: apiTp,
    noiseTop: noise.top(),
    load: loadavg(),
    log,
  })
  let dispatchErrors = 0
  if (envInt('BENCH_DISPATCH', 1, 0) > 0) {
    await quiet(quietMs)
    const d = await dispatchBench(log)
    dispatchErrors = [...d.runs.flatMap((r) => r.errors), ...(d.failover?.errors ?? [])].length
    Object.assign(results, { dispatch: dispatchResults(d) })
  }
  if (envInt('BENCH_IDLE', 1, 0) > 0) {
    await quiet(quietMs)
    Object.assign(results, { idleWorkers: await idleWorkersBench(log) })
  }
  if (envInt('BENCH_CLI', 1, 0) > 0) {
    await quiet(quietMs)
    Object.assign(results, { cliStart: await cliStartBench(bin, tmp, cleanup.track, log) })
  }
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
  log(`\nresults written to ${RESULTS}`)
  if (dispatchErrors > 0)
    console.error(`bench: BROKEN RUN: ${dispatchErrors} dispatch error(s), listed above`)
  const failures =
    lat.failures + gridxTp.failures + dockerTp.failures + (apiTp?.failures ?? 0) + dispatchErrors
  if (failures > 0) {
    console.error(`bench: BROKEN RUN: ${failures} job(s) failed`)
    for (const e of [...gridxTp.errors, ...dockerTp.errors, ...(apiTp?.errors ?? [])].slice(0, 20))
      console.error(`  ${e}`)
    return 1
  }
  return 0
}

const cleanup = new Cleanup()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`bench: ${sig}; cleaning up`)
    void cleanup.run().then(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  })
}
let code = 1
try {
  code = await main(cleanup)
} catch (err) {
  console.error(
    `bench: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)}`,
  )
} finally {
  await cleanup.run()
}
process.exit(code)

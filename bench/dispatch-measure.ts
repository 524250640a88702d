// The failover bench's dispatch measurement (its workers in the bench's own process, so it can see
// which coordinator each is on): queue N jobs of several users, connect simulated workers spread
// over the coordinators, and time first job.assign to last job.ack, with the CPU each side used.
// Also the configurations and the accounts every dispatch measurement uses.
import { clusterCpuMs } from './pg-cluster'
import {
  account,
  type BenchCoordinator,
  coordinatorsCpuMs,
  health,
  submitJobs,
  WORKER_OWNER,
} from './dispatch-grid'
import { SimWorker } from './sim-worker'

/** The three throughput configurations, in the order of an even round. */
export const CONFIGS = [
  { key: 'sqlite', label: 'SQLite, 1 coordinator', coordinators: 1, pg: false },
  { key: 'pg1', label: 'PostgreSQL, 1 coordinator', coordinators: 1, pg: true },
  { key: 'pg3', label: 'PostgreSQL, 3 coordinators', coordinators: 3, pg: true },
] as const

/** The shape of a dispatch run. */
export interface DispatchShape {
  jobs: number
  users: number
  workers: number
  slots: number
  /** Submissions in flight per user. */
  submitParallel: number
  /** Accounts the workers belong to, round-robin (each result pays its worker's owner: one is a hot ledger row). */
  owners: number
}

/** What one configuration measured. */
export interface DispatchResult {
  label: string
  coordinators: number
  jobs: number
  done: number
  /** First job.assign to last job.ack, milliseconds. */
  wallMs: number
  jobsPerSecond: number
  /** Submitting the jobs (before any worker connected), milliseconds. */
  submitMs: number
  /** CPU milliseconds per job: coordinator processes (sum), PostgreSQL (all its processes), simulated workers (the bench process). */
  cpuPerJobMs: { coordinators: number; postgres: number; workers: number }
  /** Results refused for now (the coordinator's per-worker check budget) and sent again. */
  refusedForNow: number
  /** Of the first half of the assignments, the share each user got (fair share: about 1/users each). */
  firstHalfShares: number[]
  errors: string[]
}

/** The running state of a measurement, for the failover bench to watch and act on. */
export interface Run {
  workers: SimWorker[]
  /** performance.now() of every assignment, with the worker's coordinator index at that moment. */
  assigns: { t: number; at: number; worker: SimWorker; jobId: string }[]
  acks: number[]
}

/** Accounts for the bench on a grid: the workers' owners and `users` submitters. */
export async function accounts(
  http: string,
  users: number,
  owners: number,
): Promise<{ owners: string[]; users: string[] }> {
  const ownerTokens = [await account(http, WORKER_OWNER)]
  for (let o = 1; o < owners; o++) ownerTokens.push(await account(http, `${WORKER_OWNER}${o + 1}`))
  const tokens: string[] = []
  for (let u = 0; u < users; u++) tokens.push(await account(http, `bench-user${u + 1}`))
  return { owners: ownerTokens, users: tokens }
}

/**
 * Measures dispatch on `coords` (one grid). `hooks.beforeWorkers` runs once the jobs are queued;
 * `hooks.during` while jobs flow (the failover bench kills a coordinator there); the measurement
 * ends when every job is acknowledged or time is up.
 */
export async function measureDispatch(
  label: string,
  coords: BenchCoordinator[],
  postmasterPid: number | undefined,
  shape: DispatchShape,
  log: (line: string) => void,
  hooks: { during?: (run: Run) => Promise<void>; beforeWorkers?: () => Promise<void> } = {},
): Promise<DispatchResult & { run: Run }> {
  const errors: string[] = []
  const { owners, users } = await accounts(coords[0]!.http, shape.users, shape.owners)
  const s0 = performance.now()
  const submitted = await submitJobs(
    coords.map((c) => c.http),
    users,
    shape.jobs,
    shape.submitParallel,
  )
  const submitMs = performance.now() - s0
  const ownerOf = new Map(submitted.map((s) => [s.id, s.user]))
  log(`  ${label}: ${shape.jobs} jobs of ${shape.users} users queued in ${(submitMs / 1000).toFixed(1)} s`)

  const run: Run = { workers: [], assigns: [], acks: [] }
  const events = {
    assigned: (jobId: string, at: number, worker: SimWorker) =>
      run.assigns.push({ t: performance.now(), at, worker, jobId }),
    acked: () => void run.acks.push(performance.now()),
  }
  const urls = coords.map((c) => c.ws)
  for (let i = 0; i < shape.workers; i++) {
    run.workers.push(
      new SimWorker(`w${i + 1}`, urls, owners[i % owners.length]!, shape.slots, events, i % coords.length),
    )
  }
  await hooks.beforeWorkers?.()
  const cpu0 = cpuNow(coords, postmasterPid)
  await Promise.all(run.workers.map((w) => w.start()))
  const deadline = performance.now() + Math.max(120_000, shape.jobs * 100)
  const watching = hooks.during?.(run)
  let lastReport = performance.now()
  while (run.acks.length < shape.jobs && performance.now() < deadline) {
    await Bun.sleep(50)
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now()
      log(`    ${run.acks.length}/${shape.jobs} done`)
    }
  }
  const cpu1 = cpuNow(coords, postmasterPid)
  await watching
  for (const w of run.workers) w.stop()
  if (run.acks.length < shape.jobs) {
    const h = await health(coords.find((c) => c.proc.exitCode === null)!.http).catch(() => undefined)
    errors.push(
      `gave up: ${run.acks.length}/${shape.jobs} jobs acknowledged${h ? ` (${h.queuedJobs} queued, ${h.runningJobs} running)` : ''}`,
    )
  }
  for (const w of run.workers) errors.push(...w.refusedForGood.map((e) => `${w.name}: refused: ${e}`))
  const done = run.acks.length
  const wallMs = done > 0 ? Math.max(...run.acks) - run.assigns[0]!.t : Number.NaN
  const per = (v: number) => v / Math.max(1, done)
  const half = run.assigns.slice(0, Math.floor(shape.jobs / 2))
  const firstHalfShares = users.map(
    (_, u) => half.filter((a) => ownerOf.get(a.jobId) === u).length / Math.max(1, half.length),
  )
  return {
    label,
    coordinators: coords.length,
    jobs: shape.jobs,
    done,
    wallMs,
    jobsPerSecond: done / (wallMs / 1000),
    submitMs,
    cpuPerJobMs: {
      coordinators: per(cpu1.coordinators - cpu0.coordinators),
      postgres: per(cpu1.postgres - cpu0.postgres),
      workers: per(cpu1.bench - cpu0.bench),
    },
    refusedForNow: run.workers.reduce((a, w) => a + w.refusedForNow, 0),
    firstHalfShares,
    errors,
    run,
  }
}

function cpuNow(coords: BenchCoordinator[], postmasterPid: number | undefined) {
  const u = process.cpuUsage()
  return {
    coordinators: coordinatorsCpuMs(coords),
    postgres: postmasterPid === undefined ? 0 : clusterCpuMs(postmasterPid),
    bench: (u.user + u.system) / 1000,
  }
}

// The backlog bench: with a deep queue (100,000 jobs of 50 users) dispatch must run at the rate
// it has with a small one (nothing per assignment proportional to the queue), fair share must
// still hold, and new submissions made meanwhile must stay fast. On one coordinator on SQLite:
// - reference: `measure` jobs queued, then drained (the small-queue rate; checked like the
//   dispatch runs when it got them all done within BENCH_BACKLOG_MAX_S);
// - backlog: `jobs` queued, then the workers take the first `measure` (or what they do in
//   BENCH_BACKLOG_MAX_S) while a trickle of new submissions (`trickle` a second) is timed.
// Environment: BENCH_BACKLOG_JOBS (100000), BENCH_BACKLOG_USERS (50), BENCH_BACKLOG_MEASURE (5000),
// BENCH_BACKLOG_FAIR_OVER (5000), BENCH_BACKLOG_TRICKLE (20 a second), BENCH_BACKLOG_CLIENTS (64),
// BENCH_BACKLOG_MAX_S (60: the longest each dispatch runs; the rates are over what was done).
import { join } from 'node:path'
import { accounts } from './dispatch-measure'
import { type BenchCoordinator, startCoordinator } from './dispatch-grid'
import { checkGrid } from './dispatch-check'
import { type FlowShape, measureFlow } from './dispatch-flow'
import { envInt } from './env'
import { quantile } from './stats'

/** Submission p99 while dispatching must stay under this. */
export const BACKLOG_P99_TARGET_MS = 50
/** Backlog rate / small-queue rate must be at least this (about 1: same rate). */
export const BACKLOG_RATE_TARGET = 0.8
/** The busiest user's share over the least busy one's, over the first assignments. */
export const FAIR_SHARE_TARGET = 1.5

/** What the backlog bench measured. */
export interface BacklogResult {
  jobs: number
  users: number
  measure: number
  /** Jobs the backlog run got done (`measure`, or fewer when BENCH_BACKLOG_MAX_S ran out first). */
  measured: number
  /** Submitting the backlog: seconds and jobs/s. */
  submitS: number
  submitRate: number
  /** Jobs the small-queue run got done (`measure`, or fewer when BENCH_BACKLOG_MAX_S ran out first). */
  smallMeasured: number
  /** jobs/s over the first `measure` jobs with the small queue and with the backlog; their ratio. */
  smallRate: number
  backlogRate: number
  rateRatio: number
  /** Over the first `fairOver` assignments from the backlog: fewest and most per user, most/fewest. */
  fairOver: number
  minPerUser: number
  maxPerUser: number
  fairRatio: number
  /** Latencies of the trickle of submissions made while dispatching. */
  /** `failed`: submissions of the trickle that failed (a client would retry them; not a bench error), `firstError` the first. */
  trickle: {
    rate: number
    n: number
    p50: number
    p99: number
    max: number
    failed: number
    firstError: string | null
  }
  coordinatorCpuPerJobMs: { small: number; backlog: number }
  errors: string[]
}

/** Runs the reference and the backlog, each on a fresh coordinator of `bin` on SQLite. */
export async function backlogBench(
  bin: string[],
  tmp: string,
  base: FlowShape,
  log: (line: string) => void,
  started: BenchCoordinator[],
): Promise<BacklogResult> {
  const jobs = envInt('BENCH_BACKLOG_JOBS', 100_000, 1)
  const users = envInt('BENCH_BACKLOG_USERS', 50, 1)
  const measure = Math.min(jobs, envInt('BENCH_BACKLOG_MEASURE', 5000, 1))
  const fairWanted = envInt('BENCH_BACKLOG_FAIR_OVER', 5000, 1)
  const rate = envInt('BENCH_BACKLOG_TRICKLE', 20, 1)
  const clients = envInt('BENCH_BACKLOG_CLIENTS', 64, 1)
  const maxMs = envInt('BENCH_BACKLOG_MAX_S', 60, 1) * 1000
  const errors: string[] = []
  const grid = async (name: string) => {
    const c = await startCoordinator(bin, join(tmp, name), undefined, name)
    started.push(c)
    return c
  }
  log(
    `\nbacklog: ${jobs} jobs of ${users} users queued, the first ${measure} dispatched (SQLite, 1 coordinator)`,
  )
  const small = await grid('backlog-small')
  const smallAcc = await accounts(small.http, users, 1)
  const ref = await measureFlow(
    'drain',
    'small queue',
    [small],
    undefined,
    { ...base, jobs: measure },
    smallAcc,
    log,
    { maxMs },
  )
  errors.push(...ref.errors)
  if (ref.done === measure)
    errors.push(
      ...(await checkGrid([small], undefined, measure, [ref.fleet], smallAcc.owners[0]!, smallAcc.users))
        .errors,
    )
  await small.proc.stop()
  log(`  -> small queue: ${ref.jobsPerSecond.toFixed(1)} jobs/s`)

  const deep = await grid('backlog-deep')
  const acc = await accounts(deep.http, users, 1)
  const shape = { ...base, jobs, clients }
  const run = await measureFlow('drain', 'backlog', [deep], undefined, shape, acc, log, {
    measure,
    trickle: rate,
    maxMs,
  })
  errors.push(...run.errors)
  await deep.proc.stop()
  const userOf = new Map([...run.clients.ids, ...(run.trickle?.ids ?? [])])
  const fairOver = Math.min(fairWanted, measure, run.fleet.assigns.length)
  const per = new Array<number>(users).fill(0)
  for (const a of run.fleet.assigns.slice(0, fairOver)) {
    const u = userOf.get(a[1])
    if (u !== undefined) per[u]!++
  }
  const lat = run.trickle?.latencies ?? []
  const submitS = run.submitMs / 1000
  const r: BacklogResult = {
    jobs,
    users,
    measure,
    measured: run.done,
    smallMeasured: ref.done,
    submitS,
    submitRate: jobs / submitS,
    smallRate: ref.jobsPerSecond,
    backlogRate: run.jobsPerSecond,
    rateRatio: run.jobsPerSecond / ref.jobsPerSecond,
    fairOver,
    minPerUser: Math.min(...per),
    maxPerUser: Math.max(...per),
    fairRatio: Math.max(...per) / Math.max(1, Math.min(...per)),
    trickle: {
      rate,
      n: lat.length,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      max: lat.length ? Math.max(...lat) : Number.NaN,
      failed: run.trickle?.failed ?? 0,
      firstError: run.trickle?.errors[0] ?? null,
    },
    coordinatorCpuPerJobMs: { small: ref.cpuPerJobMs.coordinators, backlog: run.cpuPerJobMs.coordinators },
    errors,
  }
  log(
    `  -> backlog: ${r.backlogRate.toFixed(1)} jobs/s (${r.rateRatio.toFixed(2)}x the small queue's); per user over the first ${fairOver}: ${r.minPerUser}..${r.maxPerUser}; trickle p99 ${r.trickle.p99.toFixed(1)} ms`,
  )
  return r
}

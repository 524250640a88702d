// The dispatch bench, with simulated workers that answer at once over the real protocol (no
// Docker), in the shape: 4 workers x 8 slots, 5,000 jobs from 32 concurrent API clients.
// First the bench's own ceiling (sim-ceiling.ts: its workers and clients against a stand-in that
// only hands jobs out). Per configuration (one coordinator on SQLite, one on PostgreSQL, three on
// one PostgreSQL): the end-to-end flow (clients submit while the workers run; the headline), then
// draining already-queued jobs, each followed by the correctness check (dispatch-check.ts: the bench fails
// on any error). Then failover (kill -9 of one of three coordinators), the BullMQ + Redis
// baseline in the same shape (bullmq.ts), and the backlog bench (backlog.ts).
// Run by `make bench` (bench/run.ts) or alone: `bun bench/dispatch.ts`. Environment:
// BENCH_DISPATCH_JOBS (5000), BENCH_DISPATCH_CLIENTS (32), BENCH_DISPATCH_USERS (4),
// BENCH_DISPATCH_WORKERS (4), BENCH_DISPATCH_SLOTS (8), BENCH_DISPATCH_OWNERS (1: accounts the
// workers belong to), BENCH_DISPATCH_DRAIN_JOBS (2000; 0: no drain),
// BENCH_DISPATCH_ROUNDS (1), BENCH_DISPATCH_CONFIGS (sqlite,pg1,pg3: which to run),
// BENCH_DISPATCH_FAILOVER_JOBS (3000; 0: no failover run), BENCH_BULLMQ (everysec,none: Redis
// persistence of each baseline run; 0: none), BENCH_BACKLOG (1; 0: no backlog run, see backlog.ts
// for its sizes), BENCH_PG_SYNCHRONOUS_COMMIT (off), BENCH_PG_STATEMENTS (1: PostgreSQL's
// statements per job), BENCH_GRIDX (a gridx command to run instead of a copy of dist/gridx, e.g.
// "bun src/main.ts"), BENCH_KEEP (1: keep the coordinators' directories and logs).
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { backlogBench } from './backlog'
import { bullBaseline, type BullResult } from './bullmq'
import { type BenchCoordinator, createDatabase, startCoordinator } from './dispatch-grid'
import { type CheckResult, checkGrid } from './dispatch-check'
import { type FlowResult, type FlowRun, type FlowShape, measureFlow } from './dispatch-flow'
import { accounts, CONFIGS } from './dispatch-measure'
import { dispatchResults, print } from './dispatch-report'
import { type DispatchReport, type Measured, verdicts } from './dispatch-targets'
import { envInt } from './env'
import { failover, type FailoverResult } from './failover'
import { NoiseMeter } from './noise'
import { simCeiling } from './sim-ceiling'
import { startCluster } from './pg-cluster'
import { resetStatements, statementCosts, statementTotals } from './pg-statements'
import type { RedisPersistence } from './redis'

export type { DispatchReport, Measured } from './dispatch-targets'

/** A flow's figures without the raw events. */
function figures(r: FlowRun): FlowResult {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the raw events stay out of the report
  const { fleet, clients, trickle, ...kept } = r
  return kept
}

/** Runs everything the dispatch bench measures; see the head of this file. */
export async function dispatchBench(log: (line: string) => void): Promise<DispatchReport> {
  const shape: FlowShape = {
    jobs: envInt('BENCH_DISPATCH_JOBS', 5000, 1),
    clients: envInt('BENCH_DISPATCH_CLIENTS', 32, 1),
    workers: envInt('BENCH_DISPATCH_WORKERS', 4, 1),
    slots: envInt('BENCH_DISPATCH_SLOTS', 8, 1),
  }
  const users = envInt('BENCH_DISPATCH_USERS', 4, 1)
  const owners = envInt('BENCH_DISPATCH_OWNERS', 1, 1)
  const drainJobs = envInt('BENCH_DISPATCH_DRAIN_JOBS', 2000, 0)
  const only = (process.env['BENCH_DISPATCH_CONFIGS'] || CONFIGS.map((c) => c.key).join(',')).split(',')
  const configs = CONFIGS.filter((c) => only.includes(c.key))
  if (configs.length === 0)
    throw new Error(`BENCH_DISPATCH_CONFIGS: none of ${CONFIGS.map((c) => c.key).join(', ')}`)
  const rounds = envInt('BENCH_DISPATCH_ROUNDS', 1, 1)
  const failoverJobs = envInt('BENCH_DISPATCH_FAILOVER_JOBS', 3000, 0)
  const bullRuns = (process.env['BENCH_BULLMQ'] ?? 'everysec,none')
    .split(',')
    .filter((p): p is RedisPersistence => p === 'everysec' || p === 'none')
  const backlogOn = process.env['BENCH_BACKLOG'] !== '0'
  const syncCommit = process.env['BENCH_PG_SYNCHRONOUS_COMMIT'] || 'off'
  const statements = process.env['BENCH_PG_STATEMENTS'] === '1'
  const tmp = mkdtempSync(join(tmpdir(), 'gridx-bench-dispatch-'))
  const started: BenchCoordinator[] = []
  const noise = new NoiseMeter()
  const cluster = await startCluster({
    settings: {
      fsync: 'on',
      synchronous_commit: syncCommit,
      ...(statements ? { shared_preload_libraries: 'pg_stat_statements' } : {}),
    },
  })
  noise.adopt(cluster.postmasterPid)
  noise.start()
  const t0 = performance.now()
  try {
    const bin = binary(tmp)
    let dbs = 0
    // Every grid its own directories, SQLite ones too (a second round must not find the first's accounts).
    let grids = 0
    const grid = async (name: string, n: number, pg: boolean) => {
      const database = pg ? await createDatabase(cluster.adminUrl, `gridx_bench_${++dbs}`) : undefined
      const coords: BenchCoordinator[] = []
      const g = ++grids
      for (let i = 0; i < n; i++) {
        const c = await startCoordinator(
          bin,
          join(tmp, `${name}-${g}-${i + 1}`),
          database,
          `${name} ${i + 1}`,
        )
        started.push(c)
        coords.push(c)
      }
      return { coords, database }
    }
    // Each coordinator's log is kept in its directory (BENCH_KEEP=1 keeps them after the run).
    const stopAll = async (coords: BenchCoordinator[]) =>
      void (await Promise.all(
        coords.map(async (c) => {
          await c.proc.stop()
          writeFileSync(join(c.dir, 'coordinator.log'), `${c.proc.text()}\n`)
        }),
      ))
    log(`\nthe bench's own side against a stand-in coordinator that only hands jobs out (sim-ceiling.ts)`)
    const ceiling = await simCeiling(shape, users, log)
    log(
      `\ndispatch: ${shape.jobs} jobs of ${users} users from ${shape.clients} API clients, ${shape.workers} simulated workers x ${shape.slots} slots (no Docker), ${rounds} round(s)`,
    )
    const all = new Map<string, Measured[]>(configs.map((c) => [c.key, []]))
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? configs : [...configs].reverse()
      for (const c of order) {
        const { coords, database } = await grid(c.key, c.coordinators, c.pg)
        const acc = await accounts(coords[0]!.http, users, owners)
        const everyone = [...acc.owners, ...acc.users]
        const pgPid = c.pg ? cluster.postmasterPid : undefined
        const db = statements ? database : undefined
        if (db) await resetStatements(db)
        const other0 = noise.mark()
        const e2e = await measureFlow('e2e', c.label, coords, pgPid, shape, acc, log)
        const otherCores = (noise.mark() - other0) / e2e.wallMs
        const perJob = db
          ? { totals: await statementTotals(db, e2e.done), top: await statementCosts(db, e2e.done) }
          : undefined
        const checks: CheckResult[] = [
          await checkGrid(coords, database, shape.jobs, [e2e.fleet], acc.owners[0]!, everyone),
        ]
        log(
          `  -> end to end: ${e2e.jobsPerSecond.toFixed(1)} jobs/s, ${e2e.cpuPerJobMs.coordinators.toFixed(2)} ms coordinator CPU a job (other work on the machine: ${otherCores.toFixed(2)} cores)${checks[0]!.errors.length ? '; CORRECTNESS FAILED' : ''}`,
        )
        let drain: FlowRun | undefined
        if (drainJobs > 0) {
          drain = await measureFlow('drain', c.label, coords, pgPid, { ...shape, jobs: drainJobs }, acc, log)
          checks.push(
            await checkGrid(
              coords,
              database,
              shape.jobs + drainJobs,
              [e2e.fleet, drain.fleet],
              acc.owners[0]!,
              everyone,
            ),
          )
          log(`  -> draining ${drainJobs} queued jobs: ${drain.jobsPerSecond.toFixed(1)} jobs/s`)
        }
        all.get(c.key)!.push({
          label: c.label,
          key: c.key,
          coordinators: c.coordinators,
          e2e: figures(e2e),
          drain: drain ? figures(drain) : undefined,
          checks: checks.map(({ errors, ...counts }) => ({ ...counts, errors: errors.length })),
          otherCores,
          errors: [...e2e.errors, ...(drain?.errors ?? []), ...checks.flatMap((k) => k.errors)],
          ...(perJob ? { statements: perJob } : {}),
        })
        await stopAll(coords)
      }
    }
    const runs = configs.map((c) => median(all.get(c.key)!))

    let fo: FailoverResult | undefined
    if (failoverJobs > 0) {
      log(`\nfailover: ${failoverJobs} jobs on 3 coordinators on PostgreSQL; kill -9 of the first`)
      const { coords: fcoords } = await grid('failover', 3, true)
      const foShape = { ...shape, jobs: failoverJobs, users, owners, submitParallel: 4 }
      fo = await failover(fcoords, cluster.postmasterPid, foShape, 0, log)
      await stopAll(fcoords)
    }

    const bull: BullResult[] = []
    for (const p of bullRuns) {
      log(
        `\nBullMQ + Redis (AOF ${p}): ${shape.jobs} jobs from ${shape.clients} producers, ${shape.workers} Workers x concurrency ${shape.slots}`,
      )
      const b = await bullBaseline(p, shape)
      log(`  -> ${b.jobsPerSecond.toFixed(1)} jobs/s`)
      bull.push(b)
    }
    const backlog = backlogOn ? await backlogBench(bin, tmp, shape, log, started) : undefined
    // bench/run.ts counts the errors of `runs` and `failover`: the baseline's and the backlog's
    // go with the first configuration's.
    runs[0]?.errors.push(...bull.flatMap((b) => b.errors.map((e) => `BullMQ: ${e}`)))
    runs[0]?.errors.push(...(backlog?.errors ?? []).map((e) => `backlog: ${e}`))
    const report: DispatchReport = {
      config: {
        ...shape,
        users,
        owners,
        drainJobs,
        rounds,
        failoverJobs,
        pgSynchronousCommit: syncCommit,
        pgFsync: 'on',
      },
      ceiling,
      runs,
      rounds: Object.fromEntries(all),
      bullmq: bull,
      backlog,
      failover: fo,
      targets: [],
      noiseTop: noise.top(),
      benchSeconds: (performance.now() - t0) / 1000,
    }
    report.targets = verdicts(report)
    print(report, log)
    return report
  } finally {
    noise.stop()
    await Promise.all(started.map((c) => c.proc.stop()))
    cluster.stop()
    if (process.env['BENCH_KEEP'] === '1') log(`kept ${tmp}`)
    else rmSync(tmp, { recursive: true, force: true })
  }
}

/** The round with the median end-to-end jobs/s (the lower middle of an even count). */
function median(rs: Measured[]): Measured {
  const sorted = [...rs].sort((a, b) => a.e2e.jobsPerSecond - b.e2e.jobsPerSecond)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}

/** The gridx command: BENCH_GRIDX, or a private copy of dist/gridx (a rebuild meanwhile must not mix versions). */
function binary(tmp: string): string[] {
  const given = process.env['BENCH_GRIDX']
  if (given) return given.split(' ').filter(Boolean)
  const built = resolve(import.meta.dir, '..', 'dist', 'gridx')
  if (!existsSync(built)) throw new Error(`${built} is missing: run 'make build' first`)
  const bin = join(tmp, 'gridx')
  copyFileSync(built, bin)
  return [bin]
}

if (import.meta.main) {
  const out = join(import.meta.dir, 'dispatch-results.json')
  const r = await dispatchBench((line) => console.log(line))
  writeFileSync(out, `${JSON.stringify(dispatchResults(r), null, 2)}\n`)
  console.log(`\nresults written to ${out}`)
  const errors = [...r.runs.flatMap((x) => x.errors), ...(r.failover?.errors ?? [])]
  if (errors.length > 0) console.error(`dispatch bench: BROKEN RUN: ${errors.length} error(s), listed above`)
  process.exit(errors.length > 0 ? 1 : 0)
}

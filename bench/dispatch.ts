// Dispatch throughput with simulated workers (no Docker): one coordinator on SQLite (the
// baseline), one on PostgreSQL, three on one PostgreSQL; then failover (kill -9 of one of three).
// Run by `make bench` (bench/run.ts) or alone: `bun bench/dispatch.ts`. Environment:
// BENCH_DISPATCH_JOBS (2000), BENCH_DISPATCH_USERS (4), BENCH_DISPATCH_WORKERS (24),
// BENCH_DISPATCH_SLOTS (4), BENCH_DISPATCH_OWNERS (1: accounts the workers belong to),
// BENCH_DISPATCH_ROUNDS (2), BENCH_DISPATCH_CONFIGS (sqlite,pg1,pg3: which to run),
// BENCH_DISPATCH_FAILOVER_JOBS (3000; 0: no failover run), BENCH_PG_SYNCHRONOUS_COMMIT (off),
// BENCH_PG_STATEMENTS (1: PostgreSQL's statements per job),
// BENCH_GRIDX (a gridx binary to run instead of a copy of dist/gridx, e.g. "bun src/main.ts").
import { envInt } from './env'
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type BenchCoordinator, createDatabase, startCoordinator } from './dispatch-grid'
import { dispatchResults, print } from './dispatch-report'
import {
  CONFIGS,
  DISPATCH_TARGET,
  type DispatchResult,
  type DispatchShape,
  measureDispatch,
} from './dispatch-measure'
import { failover, type FailoverResult } from './failover'
import { NoiseMeter } from './noise'
import { startCluster } from './pg-cluster'
import { resetStatements, type StatementCost, statementCosts, statementTotals } from './pg-statements'

/** Everything the dispatch bench measured. */
export interface DispatchReport {
  config: Record<string, string | number>
  /** Per configuration, the round with the median jobs/s. */
  runs: Measured[]
  /** Every round of every configuration. */
  rounds: Record<string, Measured[]>
  /** jobs/s of three coordinators on PostgreSQL / one on SQLite. */
  ratio: number
  verdict: 'PASS' | 'MISS'
  failover: FailoverResult | undefined
  /** Busiest processes that were neither the bench's nor its database's. */
  noiseTop: string
}

/** One configuration's round: what it measured, and how busy the rest of the machine was meanwhile. */
export type Measured = Omit<DispatchResult, 'run'> & {
  otherCores: number
  /** With BENCH_PG_STATEMENTS=1: PostgreSQL's statements per job. */
  statements?: { totals: { calls: number; ms: number }; top: StatementCost[] }
}

async function statementReport(url: string, jobs: number) {
  return { totals: await statementTotals(url, jobs), top: await statementCosts(url, jobs) }
}

/** Runs the configurations (`rounds` times, order alternating, medians reported), then failover. */
export async function dispatchBench(log: (line: string) => void): Promise<DispatchReport> {
  const shape: DispatchShape = {
    jobs: envInt('BENCH_DISPATCH_JOBS', 2000, 1),
    users: envInt('BENCH_DISPATCH_USERS', 4, 1),
    workers: envInt('BENCH_DISPATCH_WORKERS', 24, 1),
    slots: envInt('BENCH_DISPATCH_SLOTS', 4, 1),
    submitParallel: 4,
    owners: envInt('BENCH_DISPATCH_OWNERS', 1, 1),
  }
  const only = (process.env['BENCH_DISPATCH_CONFIGS'] || CONFIGS.map((c) => c.key).join(',')).split(',')
  const configs = CONFIGS.filter((c) => only.includes(c.key))
  if (configs.length === 0)
    throw new Error(`BENCH_DISPATCH_CONFIGS: none of ${CONFIGS.map((c) => c.key).join(', ')}`)
  const rounds = envInt('BENCH_DISPATCH_ROUNDS', 2, 1)
  const failoverJobs = envInt('BENCH_DISPATCH_FAILOVER_JOBS', 3000, 0)
  const syncCommit = process.env['BENCH_PG_SYNCHRONOUS_COMMIT'] || 'off'
  const tmp = mkdtempSync(join(tmpdir(), 'gridx-bench-dispatch-'))
  const started: BenchCoordinator[] = []
  const noise = new NoiseMeter()
  const statements = process.env['BENCH_PG_STATEMENTS'] === '1'
  const cluster = await startCluster({
    settings: {
      fsync: 'on',
      synchronous_commit: syncCommit,
      ...(statements ? { shared_preload_libraries: 'pg_stat_statements' } : {}),
    },
  })
  noise.adopt(cluster.postmasterPid)
  noise.start()
  try {
    const bin = binary(tmp)
    let dbs = 0
    const grid = async (name: string, n: number, pg: boolean) => {
      const database = pg ? await createDatabase(cluster.adminUrl, `gridx_bench_${++dbs}`) : undefined
      const coords: BenchCoordinator[] = []
      for (let i = 0; i < n; i++) {
        const c = await startCoordinator(
          bin,
          join(tmp, `${name}-${dbs}-${i + 1}`),
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
    log(
      `\ndispatch: ${shape.jobs} jobs of ${shape.users} users, ${shape.workers} simulated workers x ${shape.slots} slots (no Docker), ${rounds} round(s), order alternating`,
    )
    const all = new Map<string, Measured[]>(configs.map((c) => [c.key, []]))
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? configs : [...configs].reverse()
      for (const c of order) {
        const { coords, database } = await grid(c.key, c.coordinators, c.pg)
        const other0 = noise.mark()
        const db = statements ? database : undefined
        const r = await measureDispatch(
          c.label,
          coords,
          c.pg ? cluster.postmasterPid : undefined,
          shape,
          log,
          {
            ...(db ? { beforeWorkers: () => resetStatements(db) } : {}),
          },
        )
        const perJob = db ? await statementReport(db, r.done) : undefined
        const otherCores = (noise.mark() - other0) / r.wallMs
        log(
          `  -> ${r.jobsPerSecond.toFixed(1)} jobs/s (${r.done}/${r.jobs} in ${(r.wallMs / 1000).toFixed(2)} s; other work on the machine: ${otherCores.toFixed(2)} cores)`,
        )
        // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the raw event times stay out of the report
        const { run, ...kept } = r
        all.get(c.key)!.push({ ...kept, otherCores, ...(perJob ? { statements: perJob } : {}) })
        await stopAll(coords)
      }
    }
    const runs = configs.map((c) => median(all.get(c.key)!))

    let fo: FailoverResult | undefined
    if (failoverJobs > 0) {
      log(`\nfailover: ${failoverJobs} jobs on 3 coordinators on PostgreSQL; kill -9 of the first`)
      const { coords: fcoords } = await grid('failover', 3, true)
      fo = await failover(fcoords, cluster.postmasterPid, { ...shape, jobs: failoverJobs }, 0, log)
      await stopAll(fcoords)
    }

    const rate = (key: string) => runs[configs.findIndex((c) => c.key === key)]?.jobsPerSecond ?? Number.NaN
    const ratio = rate('pg3') / rate('sqlite')
    const report: DispatchReport = {
      config: { ...shape, rounds, failoverJobs, pgSynchronousCommit: syncCommit, pgFsync: 'on' },
      runs,
      rounds: Object.fromEntries(all),
      ratio,
      verdict: ratio >= DISPATCH_TARGET ? 'PASS' : 'MISS',
      failover: fo,
      noiseTop: noise.top(),
    }
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

/** The round with the median jobs/s (the lower middle of an even count). */
function median(rs: Measured[]): Measured {
  const sorted = [...rs].sort((a, b) => a.jobsPerSecond - b.jobsPerSecond)
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
  const failed = r.runs.some((x) => x.errors.length > 0) || (r.failover?.errors.length ?? 0) > 0
  process.exit(failed ? 1 : 0)
}

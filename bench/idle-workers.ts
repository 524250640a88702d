// Idle workers: what thousands of connected workers that run nothing cost the coordinator, in CPU
// (% of one core, from /proc/PID/stat) and memory (RSS growth per worker). The workers are real
// WebSocket clients in separate processes (bench/idle-client.ts) that beat at the interval the
// coordinator tells them; their CPU is reported apart. Run by `make bench` (bench/run.ts) or alone:
// `bun bench/idle-workers.ts`. Environment: BENCH_IDLE_COUNTS (10000,20000), BENCH_IDLE_SETTLE_S
// (20: after the last welcome, before measuring), BENCH_IDLE_MEASURE_S (30), BENCH_IDLE_PER_CLIENT
// (4000 sockets per client process), BENCH_GRIDX (a gridx binary instead of a copy of dist/gridx).
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { account, type BenchCoordinator, startCoordinator } from './dispatch-grid'
import { envInt } from './env'
import { Background, baseEnv } from './proc'
import { cpuMs } from './profile'
import { round, table } from './stats'

const ROOT = resolve(import.meta.dir, '..')
const RESULTS = join(import.meta.dir, 'idle-results.json')
const CLIENT = join(import.meta.dir, 'idle-client.ts')

/** The targets at 10,000 idle workers. */
export const IDLE_TARGETS = { workers: 10_000, cpuPercent: 5, bytesPerWorker: 8 * 1024 } as const

/** Descriptors the coordinator keeps for itself (database, listeners, logs) besides one per worker. */
const RESERVED_FDS = 200

/** One idle-workers measurement. */
export interface IdleRun {
  /** Workers asked for, and connected (fewer when the descriptor limit does not allow them). */
  requested: number
  workers: number
  /** Coordinator CPU over the measurement, % of one core. */
  coordinatorCpuPercent: number
  /** The simulated workers' processes together, % of one core. */
  clientsCpuPercent: number
  /** Coordinator RSS growth from before the first connection to after the measurement, per worker. */
  bytesPerWorker: number
  rssBeforeBytes: number
  rssAfterBytes: number
  /** Heartbeats the workers sent per second during the measurement. */
  heartbeatsPerSecond: number
  /** The intervals the coordinator gave the workers. */
  everyMs: { min: number; max: number }
  /** `heartbeat.interval` messages received (interval changes for connected workers). */
  intervalMessages: number
  /** Sockets the coordinator closed, and `job.cancel`s it sent: both should stay 0. */
  closed: number
  cancels: number
  measuredMs: number
  /** PASS/MISS against the targets (only the 10,000 run has targets; others are reported). */
  verdict: 'PASS' | 'MISS' | 'REPORT'
}

/** What the bench measured, as written to bench/idle-results.json. */
export interface IdleReport {
  config: Record<string, string | number>
  runs: IdleRun[]
  targets: typeof IDLE_TARGETS
}

const Status = z.object({
  event: z.literal('status'),
  open: z.number(),
  welcomed: z.number(),
  closed: z.number(),
  cancels: z.number(),
  intervalMessages: z.number(),
  beats: z.number(),
  everyMs: z.object({ min: z.number(), max: z.number() }),
})
type Status = z.infer<typeof Status>

/** The last status line a client process printed. */
function lastStatus(p: Background): Status | undefined {
  for (let i = p.lines.length - 1; i >= 0; i--) {
    const l = p.lines[i]!
    if (l.stream !== 'stdout' || !l.text.startsWith('{')) continue
    const r = Status.safeParse(JSON.parse(l.text))
    if (r.success) return r.data
  }
  return undefined
}

function sum(clients: Background[]): Status {
  const total: Status = {
    event: 'status',
    open: 0,
    welcomed: 0,
    closed: 0,
    cancels: 0,
    intervalMessages: 0,
    beats: 0,
    everyMs: { min: Infinity, max: 0 },
  }
  for (const c of clients) {
    const s = lastStatus(c)
    if (!s) continue
    for (const k of ['open', 'welcomed', 'closed', 'cancels', 'intervalMessages', 'beats'] as const) {
      total[k] += s[k]
    }
    if (s.everyMs.max > 0) total.everyMs.min = Math.min(total.everyMs.min, s.everyMs.min)
    total.everyMs.max = Math.max(total.everyMs.max, s.everyMs.max)
  }
  if (!Number.isFinite(total.everyMs.min)) total.everyMs.min = 0
  return total
}

/** Resident memory of a process, bytes. */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : Number.NaN
}

/** The hard limit on open files, which a shell can raise its soft limit to (no more without privilege). */
function hardFileLimit(): number {
  const m = /^Max open files\s+\d+\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? 1_048_576 : Number(m[1])
}

async function until(what: string, ms: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + ms
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`idle bench: ${what} did not happen within ${ms} ms`)
    await Bun.sleep(250)
  }
}

/** Connects `requested` idle workers to a fresh coordinator and measures what they cost it. */
async function measure(
  bin: string,
  dir: string,
  requested: number,
  opts: { settleMs: number; measureMs: number; perClient: number },
  log: (line: string) => void,
): Promise<IdleRun> {
  const n = Math.min(requested, hardFileLimit() - RESERVED_FDS)
  if (n < requested) log(`idle bench: ${requested} workers need more descriptors than allowed; using ${n}`)
  // The coordinator's soft limit raised to the hard one before it starts (one descriptor per socket).
  const raise = ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', bin]
  let coord: BenchCoordinator | undefined
  const clients: Background[] = []
  try {
    coord = await startCoordinator(raise, join(dir, `coord-${requested}`), undefined, `idle ${n}`)
    const token = await account(coord.http, 'bench-op')
    await Bun.sleep(2000)
    const pid = coord.proc.pid
    const rssBefore = rssBytes(pid)
    const t0 = Date.now()
    for (let i = 0, left = n; left > 0; i++, left -= opts.perClient) {
      const env = {
        IDLE_URL: coord.ws,
        IDLE_TOKEN: token,
        IDLE_COUNT: String(Math.min(left, opts.perClient)),
        IDLE_PREFIX: `idle${i}`,
      }
      clients.push(new Background(`idle clients ${i}`, [process.execPath, CLIENT], baseEnv(env)))
    }
    await until(`${n} welcomes`, 10 * 60_000, () => sum(clients).welcomed + sum(clients).closed >= n)
    log(`idle bench: ${n} workers welcomed in ${round((Date.now() - t0) / 1000)} s; settling`)
    await Bun.sleep(opts.settleMs)
    const before = sum(clients)
    const cpu0 = cpuMs(pid)
    const clientCpu0 = clients.reduce((a, c) => a + cpuMs(c.pid), 0)
    const w0 = performance.now()
    await Bun.sleep(opts.measureMs)
    const wall = performance.now() - w0
    const cpu1 = cpuMs(pid)
    const clientCpu1 = clients.reduce((a, c) => a + cpuMs(c.pid), 0)
    await Bun.sleep(1100) // the clients' next status lines
    const after = sum(clients)
    const rssAfter = rssBytes(pid)
    const run: IdleRun = {
      requested,
      workers: n,
      coordinatorCpuPercent: round((100 * (cpu1 - cpu0)) / wall, 2),
      clientsCpuPercent: round((100 * (clientCpu1 - clientCpu0)) / wall, 2),
      bytesPerWorker: Math.round((rssAfter - rssBefore) / n),
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      heartbeatsPerSecond: round(((after.beats - before.beats) * 1000) / wall, 1),
      everyMs: after.everyMs,
      intervalMessages: after.intervalMessages,
      closed: after.closed,
      cancels: after.cancels,
      measuredMs: Math.round(wall),
      verdict: 'REPORT',
    }
    if (requested === IDLE_TARGETS.workers) {
      const ok =
        run.workers === requested &&
        run.coordinatorCpuPercent < IDLE_TARGETS.cpuPercent &&
        run.bytesPerWorker < IDLE_TARGETS.bytesPerWorker &&
        run.closed === 0
      run.verdict = ok ? 'PASS' : 'MISS'
    }
    return run
  } finally {
    await Promise.all(clients.map((c) => c.stop()))
    await coord?.proc.stop()
  }
}

/** Prints the runs as a table with PASS/MISS against the targets. */
export function printIdle(report: IdleReport, log: (line: string) => void): void {
  const rows = [
    ['workers', 'coord CPU', 'per worker', 'beats/s', 'interval', 'clients CPU', 'closed', 'verdict'],
  ]
  for (const r of report.runs) {
    rows.push([
      r.workers === r.requested ? String(r.workers) : `${r.workers} (of ${r.requested})`,
      `${r.coordinatorCpuPercent}% (<${IDLE_TARGETS.cpuPercent}%)`,
      `${round(r.bytesPerWorker / 1024, 2)} KB (<${IDLE_TARGETS.bytesPerWorker / 1024} KB)`,
      String(r.heartbeatsPerSecond),
      r.everyMs.min === r.everyMs.max ? `${r.everyMs.max} ms` : `${r.everyMs.min}-${r.everyMs.max} ms`,
      `${r.clientsCpuPercent}%`,
      String(r.closed),
      r.verdict,
    ])
  }
  log(`\nidle workers (coordinator on SQLite, simulated workers in separate processes)\n${table(rows)}`)
}

/** Runs every count, writes bench/idle-results.json and returns the report. */
export async function idleWorkersBench(log: (line: string) => void): Promise<IdleReport> {
  const counts = (process.env['BENCH_IDLE_COUNTS'] ?? '10000,20000').split(',').map(Number)
  if (counts.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(
      `BENCH_IDLE_COUNTS=${process.env['BENCH_IDLE_COUNTS']}: expected whole numbers, e.g. 10000,20000`,
    )
  }
  const opts = {
    settleMs: envInt('BENCH_IDLE_SETTLE_S', 20, 0) * 1000,
    measureMs: envInt('BENCH_IDLE_MEASURE_S', 30, 1) * 1000,
    perClient: envInt('BENCH_IDLE_PER_CLIENT', 4000, 1),
  }
  const dir = mkdtempSync(join(tmpdir(), 'gridx-idle-bench-'))
  try {
    let bin = process.env['BENCH_GRIDX']
    if (!bin) {
      const built = join(ROOT, 'dist', 'gridx')
      if (!existsSync(built)) throw new Error(`${built} is missing: run 'make build' first`)
      // A copy, so a rebuild meanwhile does not change the binary under the bench.
      bin = join(dir, 'gridx')
      copyFileSync(built, bin)
    }
    const runs: IdleRun[] = []
    for (const n of counts) runs.push(await measure(bin, dir, n, opts, log))
    const report: IdleReport = {
      config: { binary: bin, ...opts, fileLimit: hardFileLimit() },
      runs,
      targets: IDLE_TARGETS,
    }
    writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`)
    printIdle(report, log)
    log(`results written to ${RESULTS}`)
    return report
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const report = await idleWorkersBench((line) => console.log(line))
  process.exit(report.runs.some((r) => r.verdict === 'MISS') ? 1 : 0)
}

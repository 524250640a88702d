// The dispatch bench's report and the targets, each judged PASS or MISS.
import { BACKLOG_P99_TARGET_MS, BACKLOG_RATE_TARGET, type BacklogResult, FAIR_SHARE_TARGET } from './backlog'
import type { BullResult } from './bullmq'
import type { CheckResult } from './dispatch-check'
import type { FlowResult } from './dispatch-flow'
import type { FailoverResult } from './failover'
import type { StatementCost, StatementTotals } from './pg-statements'
import type { Ceiling } from './sim-ceiling'

/** End to end on SQLite: at least this many jobs/s. */
export const E2E_TARGET = 3000
/** End to end on SQLite: at most this much coordinator CPU per job (ms). */
export const CPU_TARGET_MS = 0.25
/** One coordinator on PostgreSQL: at least this share of SQLite's jobs/s (within 2x). */
export const PG_SHARE_TARGET = 0.5

/** One configuration's round: both flows, the checks after each, and how busy the rest of the machine was. */
export interface Measured {
  label: string
  key: string
  coordinators: number
  e2e: FlowResult
  /** Draining as many already-queued jobs (none with BENCH_DISPATCH_DRAIN_JOBS=0). */
  drain: FlowResult | undefined
  /** The correctness check after each flow: what it counted, and how many errors it found. */
  checks: (Omit<CheckResult, 'errors'> & { errors: number })[]
  /** Cores other processes used during the end-to-end flow. */
  otherCores: number
  /** Everything that went wrong (the bench fails on any). */
  errors: string[]
  /** With BENCH_PG_STATEMENTS=1: PostgreSQL's statements per job of the end-to-end flow. */
  statements?: { totals: StatementTotals; top: StatementCost[] }
}

/** A target of the issue and how this run did. */
export interface Target {
  what: string
  value: number
  target: string
  verdict: 'PASS' | 'MISS'
}

/** Everything the dispatch bench measured. */
export interface DispatchReport {
  config: Record<string, string | number>
  /** The bench's own side against a stand-in coordinator: what it can drive at most. */
  ceiling: Ceiling
  /** Per configuration, the round with the median end-to-end jobs/s. */
  runs: Measured[]
  /** Every round of every configuration. */
  rounds: Record<string, Measured[]>
  /** The BullMQ + Redis baseline, once per Redis persistence. */
  bullmq: BullResult[]
  backlog: BacklogResult | undefined
  failover: FailoverResult | undefined
  targets: Target[]
  /** Busiest processes that were neither the bench's nor its database's. */
  noiseTop: string
  benchSeconds: number
}

/** The targets judged on `r` (those whose figures this run has). */
export function verdicts(r: DispatchReport): Target[] {
  const t: Target[] = []
  const add = (what: string, value: number, target: string, ok: boolean) =>
    t.push({ what, value, target, verdict: ok ? 'PASS' : 'MISS' })
  const run = (key: string) => r.runs.find((x) => x.key === key)
  const sqlite = run('sqlite')
  const pg1 = run('pg1')
  const pg3 = run('pg3')
  if (sqlite) {
    const rate = sqlite.e2e.jobsPerSecond
    add('end to end, SQLite: jobs/s', rate, `>= ${E2E_TARGET}`, rate >= E2E_TARGET)
    const cpu = sqlite.e2e.cpuPerJobMs.coordinators
    add('end to end, SQLite: coordinator CPU ms per job', cpu, `<= ${CPU_TARGET_MS}`, cpu <= CPU_TARGET_MS)
  }
  if (sqlite && pg1) {
    const share = pg1.e2e.jobsPerSecond / sqlite.e2e.jobsPerSecond
    add(
      'end to end, PostgreSQL x1 / SQLite',
      share,
      `>= ${PG_SHARE_TARGET} (within 2x)`,
      share >= PG_SHARE_TARGET,
    )
  }
  if (pg1 && pg3) {
    const gain = pg3.e2e.jobsPerSecond / pg1.e2e.jobsPerSecond
    add('end to end, PostgreSQL x3 / x1', gain, '> 1', gain > 1)
  }
  const bull = r.bullmq.find((b) => b.persistence === 'everysec') ?? r.bullmq[0]
  if (bull) {
    for (const x of r.runs) {
      const ratio = x.e2e.jobsPerSecond / bull.jobsPerSecond
      add(
        `end to end, ${x.label} / BullMQ (AOF ${bull.persistence})`,
        ratio,
        '>= 1 (long-term goal)',
        ratio >= 1,
      )
    }
  }
  const b = r.backlog
  if (b) {
    add(
      `backlog of ${b.jobs}: jobs/s / small queue's`,
      b.rateRatio,
      `>= ${BACKLOG_RATE_TARGET} (about 1)`,
      b.rateRatio >= BACKLOG_RATE_TARGET,
    )
    // Under 10 assignments a user, one more or less is a large ratio: there the spread is judged.
    if (b.fairOver / b.users >= 10)
      add(
        `backlog: most/fewest assignments per user (first ${b.fairOver})`,
        b.fairRatio,
        `<= ${FAIR_SHARE_TARGET}`,
        b.fairRatio <= FAIR_SHARE_TARGET,
      )
    else
      add(
        `backlog: most - fewest assignments per user (first ${b.fairOver}; too few for a ratio)`,
        b.maxPerUser - b.minPerUser,
        '<= 2',
        b.maxPerUser - b.minPerUser <= 2,
      )
    add(
      'backlog: submission p99 while dispatching (ms)',
      b.trickle.p99,
      `< ${BACKLOG_P99_TARGET_MS}`,
      b.trickle.p99 < BACKLOG_P99_TARGET_MS,
    )
  }
  const broken = r.runs.reduce((a, x) => a + x.checks.reduce((c, k) => c + k.errors, 0), 0)
  add('correctness: every job once, paid once, escrow 0, audit exact (errors)', broken, '0', broken === 0)
  return t
}

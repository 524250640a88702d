// The dispatch bench's tables (in the format of the other benches) and its part of results.json.
import type { FlowResult } from './dispatch-flow'
import type { DispatchReport, Measured } from './dispatch-targets'
import { round, table } from './stats'

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-')
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-')
const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-')
const msOrDash = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '-')

function flowTable(title: string, rows: [Measured, FlowResult][], log: (line: string) => void): void {
  log(`\n${title} (the median round; CPU per job in ms)`)
  log(
    table([
      [
        '  configuration',
        'jobs/s',
        'wall',
        'coord CPU',
        'PG CPU',
        'workers CPU',
        'clients CPU',
        'disk KB',
        'resent',
        'user shares',
      ],
      ...rows.map(([m, x]) => [
        `  ${m.label}`,
        f1(x.jobsPerSecond),
        `${f2(x.wallMs / 1000)} s`,
        f3(x.cpuPerJobMs.coordinators),
        f3(x.cpuPerJobMs.postgres),
        f3(x.cpuPerJobMs.workers),
        f3(x.cpuPerJobMs.clients),
        f1(x.writtenKBPerJob.coordinators + x.writtenKBPerJob.postgres),
        String(x.refusedForNow),
        x.firstHalfShares.map((s) => s.toFixed(2)).join('/'),
      ]),
    ]),
  )
}

/** Prints the dispatch tables in the format of the other benches. */
export function print(r: DispatchReport, log: (line: string) => void): void {
  const c = r.config
  flowTable(
    `dispatch end to end: ${c['jobs']} jobs submitted by ${c['clients']} API clients while ${c['workers']} simulated workers x ${c['slots']} slots run them`,
    r.runs.map((m) => [m, m.e2e]),
    log,
  )
  log(
    '  jobs/s = first submission to last result acknowledged (submit, assign, result, settled, receipt checked)',
  )
  const ce = r.ceiling.e2e
  log(
    `  the bench's own ceiling (a stand-in coordinator): ${f1(ce.jobsPerSecond)} jobs/s, workers ${f3(ce.cpuPerJobMs.workers)} + clients ${f3(ce.cpuPerJobMs.clients)} ms CPU a job`,
  )
  log("  workers/clients CPU = the simulated workers' and the submitting clients' processes")
  log('  disk KB = written to storage per job, by the coordinators (SQLite) and PostgreSQL: pages, mostly')
  log(
    '  resent = results the coordinator refused for now (its per-worker check budget) and got again 1 s later',
  )
  log('  user shares = share of each user among the first half of the assignments (fair: equal)')
  log(
    `  other load = ${r.runs.map((m) => `${m.key} ${f2(m.otherCores)} cores`).join(', ')}; busiest: ${r.noiseTop || 'none seen'}`,
  )
  const drains = r.runs.flatMap((m) => (m.drain ? [[m, m.drain] as [Measured, FlowResult]] : []))
  if (drains.length)
    flowTable(
      `draining ${c['drainJobs']} already-queued jobs (first assignment to last acknowledgement)`,
      drains,
      log,
    )
  for (const [k, rs] of Object.entries(r.rounds))
    if (rs.length > 1)
      log(`  ${k}, every round: ${rs.map((x) => `${f1(x.e2e.jobsPerSecond)} jobs/s`).join(', ')}`)
  log('\ncorrectness after each flow (the database and the API)')
  log(
    table([
      ['  configuration', 'jobs', 'requeued', 'paid (cost > 0)', 'errors'],
      ...r.runs.flatMap((m) =>
        m.checks.map((k) => [
          `  ${m.label}`,
          String(k.jobs),
          String(k.requeued),
          String(k.paid),
          String(k.errors),
        ]),
      ),
    ]),
  )
  for (const x of r.runs) {
    if (!x.statements) continue
    const t = x.statements.totals
    log(
      `\nPostgreSQL statements per job, ${x.label}: ${f1(t.calls)} calls, ${f2(t.ms)} ms executing, ${f1(t.walRecords)} WAL records, ${f1(t.walBytes / 1024)} KB of WAL`,
    )
    log(
      table([
        ['  calls/job', 'ms/job', 'rows/job', 'WAL records', 'WAL KB', 'statement'],
        ...x.statements.top.map((s) => [
          `  ${f2(s.callsPerJob)}`,
          f2(s.msPerJob),
          f1(s.rowsPerJob),
          f1(s.walRecordsPerJob),
          f2(s.walBytesPerJob / 1024),
          s.query,
        ]),
      ]),
    )
  }
  const fo = r.failover
  if (fo) {
    log('\nfailover, 3 coordinators on PostgreSQL, kill -9 of one mid-run')
    log(
      table([
        ['  killed after', `${fo.killedAfterJobs} of ${fo.jobs} jobs, ${fo.movedWorkers} workers on it`],
        ['  jobs/s before the kill', f1(fo.rateBefore)],
        ['  kill -> first job.assign (any worker)', msOrDash(fo.firstAssignAnyMs)],
        ['  kill -> first job.assign to a moved worker', msOrDash(fo.firstAssignMovedMs)],
        ['  kill -> throughput back to 80% (500 ms window)', msOrDash(fo.recoveredMs)],
        ['  jobs/s after recovery', f1(fo.rateAfter)],
        ['  kill -> last job acknowledged', msOrDash(fo.lastAckMs)],
        ['  kill -> sweeps taken over (if it held them)', msOrDash(fo.sweepTakeoverMs)],
        ['  jobs done', `${fo.done}/${fo.jobs}`],
      ]),
    )
  }
  if (r.bullmq.length) {
    log(
      `\nBullMQ + Redis, same shape (${c['clients']} producers, ${c['workers']} Workers x concurrency ${c['slots']}; CPU per job in ms)`,
    )
    log(
      table([
        ['  Redis persistence', 'jobs/s', 'wall', 'Redis CPU', 'workers CPU', 'producers CPU'],
        ...r.bullmq.map((b) => [
          `  AOF ${b.persistence}`,
          f1(b.jobsPerSecond),
          `${f2(b.wallMs / 1000)} s`,
          f3(b.cpuPerJobMs.redis),
          f3(b.cpuPerJobMs.workers),
          f3(b.cpuPerJobMs.producers),
        ]),
      ]),
    )
  }
  const b = r.backlog
  if (b) {
    log(`\nbacklog: ${b.jobs} jobs of ${b.users} users queued (SQLite, 1 coordinator)`)
    log(
      table([
        ['  submitting the backlog', `${f1(b.submitS)} s (${f1(b.submitRate)} jobs/s)`],
        [`  jobs/s, first ${b.smallMeasured} of a small queue (${b.measure} queued)`, f1(b.smallRate)],
        [`  jobs/s, first ${b.measured} from the backlog`, f1(b.backlogRate)],
        [
          '  coordinator CPU per job, small / backlog',
          `${f3(b.coordinatorCpuPerJobMs.small)} / ${f3(b.coordinatorCpuPerJobMs.backlog)} ms`,
        ],
        [`  assignments per user, first ${b.fairOver}`, `${b.minPerUser}..${b.maxPerUser}`],
        [
          `  submissions meanwhile (${b.trickle.rate}/s, ${b.trickle.n})`,
          `p50 ${f1(b.trickle.p50)} ms, p99 ${f1(b.trickle.p99)} ms, max ${f1(b.trickle.max)} ms, ${b.trickle.failed} failed${b.trickle.firstError ? ` (${b.trickle.firstError})` : ''}`,
        ],
      ]),
    )
  }
  log(`\n== dispatch summary (${f1(r.benchSeconds)} s) ==`)
  log(
    table([
      ['  target', 'value', 'wanted', ''],
      ...r.targets.map((t) => [`  ${t.what}`, f2(t.value), t.target, t.verdict]),
    ]),
  )
  for (const e of [...r.runs.flatMap((x) => x.errors), ...(fo?.errors ?? [])].slice(0, 20))
    log(`  error: ${e}`)
}

/** Every number rounded to 3 decimals, NaN as null, error lists cut to 50. */
function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? round(v, 3) : null
  if (Array.isArray(v)) return v.map(rounded)
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        k === 'errors' && Array.isArray(x) ? x.slice(0, 50) : rounded(x),
      ]),
    )
  return v
}

/** results.json's part for the dispatch bench, numbers rounded. */
export function dispatchResults(r: DispatchReport) {
  return rounded(r) as DispatchReport
}

// The dispatch bench's tables (in the format of the other benches) and its part of results.json.
import type { DispatchReport, Measured } from './dispatch'
import { CONFIGS, DISPATCH_TARGET } from './dispatch-measure'
import { round, table } from './stats'

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-')
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-')
const msOrDash = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '-')

/** Prints the dispatch tables in the format of the other benches. */
export function print(r: DispatchReport, log: (line: string) => void): void {
  log('\ndispatch throughput, simulated workers (the median round; CPU per job in ms)')
  log(
    table([
      [
        '  configuration',
        'jobs/s',
        'wall',
        'coord CPU',
        'PG CPU',
        'coord+PG',
        'workers CPU',
        'resent',
        'user shares',
      ],
      ...r.runs.map((x) => [
        `  ${x.label}`,
        f1(x.jobsPerSecond),
        `${f2(x.wallMs / 1000)} s`,
        f2(x.cpuPerJobMs.coordinators),
        f2(x.cpuPerJobMs.postgres),
        f2(x.cpuPerJobMs.coordinators + x.cpuPerJobMs.postgres),
        f2(x.cpuPerJobMs.workers),
        String(x.refusedForNow),
        x.firstHalfShares.map((s) => s.toFixed(2)).join('/'),
        `${f2(x.otherCores)} cores`,
      ]),
    ]),
  )
  log(
    '  resent = results the coordinator refused for now (its per-worker check budget) and got again 1 s later',
  )
  log('  user shares = share of each user among the first half of the assignments (fair: equal)')
  log(
    `  other load = CPU of processes neither the bench's nor PostgreSQL's meanwhile: ${r.noiseTop || 'none seen'}`,
  )
  for (const [k, rs] of Object.entries(r.rounds))
    log(`  ${k}, every round: ${rs.map((x) => `${f1(x.jobsPerSecond)} jobs/s`).join(', ')}`)
  for (const x of r.runs) {
    if (!x.statements) continue
    const t = x.statements.totals
    log(`\nPostgreSQL statements per job, ${x.label}: ${f1(t.calls)} calls, ${f2(t.ms)} ms executing`)
    log(
      table([
        ['  calls/job', 'ms/job', 'rows/job', 'statement'],
        ...x.statements.top.map((s) => [`  ${f2(s.callsPerJob)}`, f2(s.msPerJob), f1(s.rowsPerJob), s.query]),
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
  log('\n== dispatch summary ==')
  log(
    table([
      ['', 'jobs/s', 'ratio to SQLite', `target >= ${DISPATCH_TARGET.toFixed(2)}`],
      ...r.runs.map((x) => [
        x.label,
        f1(x.jobsPerSecond),
        f2(x.jobsPerSecond / (r.runs.find((y) => y.label === CONFIGS[0].label)?.jobsPerSecond ?? Number.NaN)),
        x.label === CONFIGS[2].label ? r.verdict : '',
      ]),
    ]),
  )
  for (const e of [...r.runs.flatMap((x) => x.errors), ...(fo?.errors ?? [])].slice(0, 20))
    log(`  error: ${e}`)
}

/** results.json's part for the dispatch bench, numbers rounded. */
export function dispatchResults(r: DispatchReport) {
  return {
    ...r,
    ratio: round(r.ratio, 3),
    runs: r.runs.map(roundRun),
    rounds: Object.fromEntries(Object.entries(r.rounds).map(([k, rs]) => [k, rs.map(roundRun)])),
  }
}

function roundRun(x: Measured) {
  return {
    ...x,
    wallMs: round(x.wallMs),
    submitMs: round(x.submitMs),
    jobsPerSecond: round(x.jobsPerSecond, 1),
    cpuPerJobMs: {
      coordinators: round(x.cpuPerJobMs.coordinators, 2),
      postgres: round(x.cpuPerJobMs.postgres, 2),
      workers: round(x.cpuPerJobMs.workers, 2),
    },
    firstHalfShares: x.firstHalfShares.map((s) => round(s, 3)),
    otherCores: round(x.otherCores, 2),
    errors: x.errors.slice(0, 50),
  }
}

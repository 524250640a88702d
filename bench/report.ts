import type { LatencyResult } from './latency'
import { ms, round, sec, table } from './stats'
import type { Throughput } from './throughput'

/** Everything the run measured. */
export interface RunData {
  target: number
  config: Record<string, string | number>
  startup: Record<string, number>
  latency: LatencyResult
  latencyCpuMs: Record<string, number>
  /** Wall time of the whole latency phase (including waits for a quiet machine). */
  latencyWallMs: number
  gridxThroughput: Throughput
  dockerThroughput: Throughput
  apiThroughput: Throughput | undefined
  /** Busiest processes that were neither the bench's nor Docker's. */
  noiseTop: string
  /** Load average at the end. */
  load: number[]
  log: (line: string) => void
}

const verdict = (ratio: number, target: number) => (ratio <= target ? 'PASS' : 'MISS')

function roundAll(r: Record<string, number>, digits = 1): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v, digits)]))
}

function cpuRows(label: string, cpu: Record<string, number>, wallMs: number): string[] {
  const share = (k: string) => `${k} ${sec(cpu[k] ?? Number.NaN)}`
  const cores = (cpu['machine'] ?? Number.NaN) / wallMs
  return [
    label,
    ['coordinator', 'worker', 'clients', 'dockerd', 'containerd', 'other'].map(share).join(', '),
    `${cores.toFixed(2)} cores busy`,
  ]
}

/** Prints the tables and returns what goes into results.json. */
export function report(d: RunData) {
  const { latency: lat, log } = d
  const tpRatio = d.gridxThroughput.wallMs / d.dockerThroughput.wallMs
  const latVerdict = verdict(lat.ratio, d.target)
  const tpVerdict = verdict(tpRatio, d.target)

  log('\nprocess start-up (median of 5)')
  log(table(Object.entries(d.startup).map(([k, v]) => [`  ${k}`, ms(v)])))

  log('\nlatency of one trivial job, phases (median ms of the measured rounds)')
  const keys = [...new Set([...Object.keys(lat.phases.gridx), ...Object.keys(lat.phases.docker)])].sort()
  const cell = (v: number | undefined) => (v === undefined ? '' : ms(v))
  log(
    table([
      ['  phase', 'gridx', 'docker'],
      ...keys.map((k) => [`  ${k}`, cell(lat.phases.gridx[k]), cell(lat.phases.docker[k])]),
    ]),
  )
  log(table([['  CPU of the client process itself', ms(lat.cliCpuMs.gridx), ms(lat.cliCpuMs.docker)]]))
  const detail = d.gridxThroughput.detail ?? {}
  log('\nthroughput, Grid-X detail (CLI submissions)')
  log(table(Object.entries(detail).map(([k, v]) => [`  ${k}`, String(round(v, 2))])))
  if (d.apiThroughput?.detail) {
    log('throughput, Grid-X detail (API submissions)')
    log(table(Object.entries(d.apiThroughput.detail).map(([k, v]) => [`  ${k}`, String(round(v, 2))])))
  }
  log('\nCPU used (seconds)')
  log(
    table([
      cpuRows('  latency (both sides)', d.latencyCpuMs, d.latencyWallMs),
      cpuRows('  throughput gridx (CLI)', d.gridxThroughput.cpuMs, d.gridxThroughput.wallMs),
      cpuRows('  throughput docker', d.dockerThroughput.cpuMs, d.dockerThroughput.wallMs),
      ...(d.apiThroughput
        ? [cpuRows('  throughput gridx (API)', d.apiThroughput.cpuMs, d.apiThroughput.wallMs)]
        : []),
    ]),
  )

  log(`  other = processes that are neither the bench's nor Docker's: ${d.noiseTop || 'none seen'}`)
  log(`  load average at the end: ${d.load.map((v) => v.toFixed(2)).join(' ')}`)

  const jobsPerSec = (t: Throughput) => `${(t.jobs / (t.wallMs / 1000)).toFixed(2)} jobs/s`
  log('\n== summary ==')
  log(
    table([
      ['', 'gridx', 'docker', 'gridx/docker', `target <= ${d.target.toFixed(2)}`],
      ['latency median', ms(lat.gridx.median), ms(lat.docker.median), lat.ratio.toFixed(3), latVerdict],
      ['latency p90', ms(lat.gridx.p90), ms(lat.docker.p90), (lat.gridx.p90 / lat.docker.p90).toFixed(3), ''],
      [
        `throughput ${d.gridxThroughput.jobs} jobs`,
        `${sec(d.gridxThroughput.wallMs)} (${jobsPerSec(d.gridxThroughput)})`,
        `${sec(d.dockerThroughput.wallMs)} (${jobsPerSec(d.dockerThroughput)})`,
        tpRatio.toFixed(3),
        tpVerdict,
      ],
      ...(d.apiThroughput
        ? [
            [
              '  (diagnostic: via API)',
              sec(d.apiThroughput.wallMs),
              '',
              (d.apiThroughput.wallMs / d.dockerThroughput.wallMs).toFixed(3),
              '',
            ],
          ]
        : []),
      [
        'failures',
        String(lat.samples.filter((s) => s.kind === 'gridx' && !s.ok).length + d.gridxThroughput.failures),
        String(lat.samples.filter((s) => s.kind === 'docker' && !s.ok).length + d.dockerThroughput.failures),
        '',
        '',
      ],
    ]),
  )

  const tp = (t: Throughput) => ({
    jobs: t.jobs,
    failures: t.failures,
    wallMs: round(t.wallMs),
    jobsPerSecond: round(t.jobs / (t.wallMs / 1000), 3),
    cpuMs: roundAll(t.cpuMs),
    ...(t.detail ? { detail: roundAll(t.detail, 3) } : {}),
    errors: t.errors.slice(0, 50),
  })
  const sum = (s: LatencyResult['gridx']) => roundAll({ ...s })
  return {
    date: new Date().toISOString(),
    config: d.config,
    target: d.target,
    startupMs: roundAll(d.startup),
    noise: { busiestOtherProcesses: d.noiseTop, loadAverageAtEnd: d.load.map((v) => round(v, 2)) },
    latency: {
      gridx: sum(lat.gridx),
      docker: sum(lat.docker),
      ratio: round(lat.ratio, 3),
      verdict: latVerdict,
      failures: lat.failures,
      phasesMs: { gridx: roundAll(lat.phases.gridx), docker: roundAll(lat.phases.docker) },
      clientCpuMs: roundAll(lat.cliCpuMs),
      cpuMs: roundAll(d.latencyCpuMs),
      samples: lat.samples.map((s) => ({
        kind: s.kind,
        round: s.round,
        warmup: s.warmup,
        ok: s.ok,
        ms: round(s.ran.ms),
        cpuMs: round(s.ran.cpuMs),
      })),
    },
    throughput: {
      gridx: tp(d.gridxThroughput),
      docker: tp(d.dockerThroughput),
      ...(d.apiThroughput ? { gridxViaApi: tp(d.apiThroughput) } : {}),
      ratio: round(tpRatio, 3),
      verdict: tpVerdict,
    },
  }
}

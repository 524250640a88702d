import type { BenchGrid } from './grid'
import type { Ran } from './proc'
import { type EventLog, type Lifecycle, lifecycles, workerJobs } from './profile'
import { quantile, summarize, type Summary } from './stats'
import { dockerOnce, gridxOnce, succeeded } from './workload'

/** One timed run of the trivial job. */
export interface Sample {
  kind: 'gridx' | 'docker'
  round: number
  warmup: boolean
  ok: boolean
  ran: Ran
}

/** Result of the latency comparison. */
export interface LatencyResult {
  gridx: Summary
  docker: Summary
  /** gridx median / docker median. */
  ratio: number
  failures: number
  samples: Sample[]
  /** Median CPU milliseconds of the client process itself (gridx submit or docker run). */
  cliCpuMs: { gridx: number; docker: number }
  /** Median milliseconds of each phase of one job, measured rounds only. */
  phases: { gridx: Record<string, number>; docker: Record<string, number> }
}

/** Runs `rounds` measured rounds after `warmup` discarded ones; the order flips each round (ABBA). */
export async function latency(
  grid: BenchGrid,
  script: string,
  rounds: number,
  warmup: number,
  events: EventLog,
  progress: (line: string) => void,
  beforeRound: () => Promise<unknown>,
): Promise<LatencyResult> {
  const samples: Sample[] = []
  for (let round = 0; round < warmup + rounds; round++) {
    await beforeRound()
    const order: Sample['kind'][] = round % 2 === 0 ? ['gridx', 'docker'] : ['docker', 'gridx']
    const line: string[] = []
    for (const kind of order) {
      const ran = kind === 'gridx' ? await gridxOnce(grid, script) : await dockerOnce()
      const ok = succeeded(ran)
      samples.push({ kind, round, warmup: round < warmup, ok, ran })
      line.push(
        `${kind} ${Math.round(ran.ms)} ms${ok ? '' : ` FAILED (exit ${ran.code}: ${ran.stderr.trim()})`}`,
      )
    }
    progress(`  ${round < warmup ? 'warm-up' : `round ${round - warmup + 1}/${rounds}`}: ${line.join(', ')}`)
  }
  const measured = samples.filter((s) => !s.warmup)
  const times = (k: Sample['kind']) => measured.filter((s) => s.kind === k && s.ok).map((s) => s.ran.ms)
  const g = summarize(times('gridx'))
  const d = summarize(times('docker'))
  return {
    gridx: g,
    docker: d,
    ratio: g.median / d.median,
    failures: samples.filter((s) => !s.ok).length,
    samples,
    cliCpuMs: {
      gridx: quantile(
        measured.filter((s) => s.kind === 'gridx').map((s) => s.ran.cpuMs),
        0.5,
      ),
      docker: quantile(
        measured.filter((s) => s.kind === 'docker').map((s) => s.ran.cpuMs),
        0.5,
      ),
    },
    phases: await phases(grid, measured, events),
  }
}

/** Splits each measured run into phases using job timestamps, worker log lines and docker events. */
async function phases(
  grid: BenchGrid,
  measured: Sample[],
  events: EventLog,
): Promise<LatencyResult['phases']> {
  const jobs = await grid.jobs()
  const wlog = workerJobs(grid.worker?.lines ?? [])
  const containers = [...lifecycles(events.events()).values()]
  const g: Record<string, number[]> = {}
  const d: Record<string, number[]> = {}
  const add = (into: Record<string, number[]>, k: string, v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) (into[k] ??= []).push(v)
  }
  const diff = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : b - a
  for (const s of measured) {
    const { startedAt, endedAt } = s.ran
    if (s.kind === 'gridx') {
      const job = jobs.find((j) => inside(Date.parse(j.createdAt), startedAt, endedAt))
      if (!job) continue
      const w = wlog.get(job.id) ?? {}
      const c: Lifecycle = containers.find((x) => x.name === `gridx-${job.id}-${job.attempt}`) ?? {}
      const created = Date.parse(job.createdAt)
      const finished = job.finishedAt ? Date.parse(job.finishedAt) : undefined
      add(g, '1 CLI start -> job stored (coordinator)', created - startedAt)
      add(g, '2 stored -> worker got assignment', diff(created, w.assigned))
      add(g, '3 assignment -> container created', diff(w.assigned, c.create))
      add(g, '4 created -> started (putArchive, attach, start)', diff(c.create, c.start))
      add(g, '5 container running (python)', diff(c.start, c.die))
      add(g, '6 died -> worker reports result', diff(c.die, w.result))
      add(g, '7 result -> job final (coordinator)', diff(w.result, finished))
      add(g, '8 final -> CLI exited', diff(finished, endedAt))
      add(g, '9 CLI exited -> container removed (async)', diff(endedAt, c.destroy))
    } else {
      const c = containers.find(
        (x) => x.create !== undefined && inside(x.create, startedAt, endedAt) && !x.name.startsWith('gridx-'),
      )
      if (!c) continue
      add(d, '1 CLI start -> container created', diff(startedAt, c.create))
      add(d, '4 created -> started (attach, start)', diff(c.create, c.start))
      add(d, '5 container running (python)', diff(c.start, c.die))
      add(d, '6 died -> removed (--rm)', diff(c.die, c.destroy))
      add(d, '8 removed -> CLI exited', diff(c.destroy, endedAt))
    }
  }
  const med = (r: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, summarize(v).median]))
  return { gridx: med(g), docker: med(d) }
}

function inside(t: number, from: number, to: number): boolean {
  return t >= from - 5 && t <= to + 5
}

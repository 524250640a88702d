import { readdirSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import type { NoiseMeter } from './noise'
import { Background, baseEnv, type LogLine } from './proc'

/** One container event from `docker events`, time in epoch milliseconds. */
export interface ContainerEvent {
  action: string
  id: string
  name: string
  image: string
  at: number
}

const DockerEvent = z.object({
  Action: z.string(),
  id: z.string().optional(),
  timeNano: z.number(),
  Actor: z.object({ ID: z.string(), Attributes: z.record(z.string(), z.string()).default({}) }),
})

/** Follows `docker events` for containers while the bench runs. */
export class EventLog {
  private readonly proc: Background

  constructor() {
    const fmt = '{{json .}}'
    this.proc = new Background(
      'docker events',
      ['docker', 'events', '--filter', 'type=container', '--format', fmt],
      baseEnv(),
    )
  }

  get process(): Background {
    return this.proc
  }

  /** Waits until docker events is attached (it prints nothing until the first event). */
  async ready(): Promise<void> {
    await Bun.sleep(300)
    if (this.proc.exitCode !== null) throw new Error(`docker events exited: ${this.proc.text()}`)
  }

  /** Every container event seen so far. */
  events(): ContainerEvent[] {
    const out: ContainerEvent[] = []
    for (const l of this.proc.lines) {
      if (l.stream !== 'stdout' || !l.text.startsWith('{')) continue
      const r = DockerEvent.safeParse(JSON.parse(l.text))
      if (!r.success) continue
      const e = r.data
      out.push({
        action: e.Action.split(':')[0]!,
        id: e.Actor.ID,
        name: e.Actor.Attributes['name'] ?? '',
        image: e.Actor.Attributes['image'] ?? '',
        at: e.timeNano / 1e6,
      })
    }
    return out
  }
}

/** The times of one container's lifecycle events (first occurrence of each action). */
export type Lifecycle = Partial<Record<'create' | 'attach' | 'start' | 'die' | 'destroy', number>>

/** Lifecycles of containers, keyed by container id. */
export function lifecycles(events: ContainerEvent[]): Map<string, Lifecycle & { name: string }> {
  const byId = new Map<string, Lifecycle & { name: string }>()
  for (const e of events) {
    const c = byId.get(e.id) ?? { name: e.name }
    if (e.action === 'create' || e.action === 'attach' || e.action === 'start' || e.action === 'die') {
      c[e.action] ??= e.at
    } else if (e.action === 'destroy') c.destroy ??= e.at
    byId.set(e.id, c)
  }
  return byId
}

/** What the worker logged about one job, from the ISO timestamps it prints. */
export interface WorkerJobLog {
  assigned?: number
  result?: number
  outcome?: string
}

const ASSIGN = /^(\S+Z) job (\w+) \(attempt \d+\): /
const RESULT = /^(\S+Z) job (\w+): (exited|error|timeout|cancelled)/

/** Per-job timestamps from the worker's log lines. */
export function workerJobs(lines: LogLine[]): Map<string, WorkerJobLog> {
  const jobs = new Map<string, WorkerJobLog>()
  for (const { text } of lines) {
    const a = ASSIGN.exec(text)
    if (a) {
      const j = jobs.get(a[2]!) ?? {}
      j.assigned ??= Date.parse(a[1]!)
      jobs.set(a[2]!, j)
      continue
    }
    const r = RESULT.exec(text)
    if (r) {
      const j = jobs.get(r[2]!) ?? {}
      j.result ??= Date.parse(r[1]!)
      j.outcome ??= r[3]!
      jobs.set(r[2]!, j)
    }
  }
  return jobs
}

const TICK_MS = 10 // USER_HZ is 100 on Linux

/** CPU time (user + system, milliseconds) a process has used so far; NaN when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS
  } catch {
    return Number.NaN
  }
}

/**
 * Bytes a process has caused to be written to storage so far (`write_bytes` of /proc/PID/io: pages
 * it dirtied, its database's WAL and checkpoints; not its sockets); NaN when it is gone.
 */
export function writtenBytes(pid: number | string): number {
  try {
    const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Pids of processes whose command name is exactly `comm` (e.g. dockerd, containerd). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) pids.push(Number(d))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/** CPU used by named processes between two snapshots, plus the bench's finished children and the whole machine. */
export class CpuMeter {
  private readonly pids: [string, number][]

  constructor(
    named: Record<string, number | undefined>,
    private readonly noise: NoiseMeter,
  ) {
    this.pids = Object.entries(named).filter((e): e is [string, number] => e[1] !== undefined)
  }

  snapshot(): Record<string, number> {
    const snap: Record<string, number> = {}
    for (const [k, pid] of this.pids) snap[k] = cpuMs(pid)
    // Short-lived CLIs (gridx submit, docker run, xargs) are reaped by the bench: their time lands here.
    snap['clients'] = childrenCpuMs(process.pid)
    snap['machine'] = machineBusyMs()
    // Other work on the machine (neither the bench's processes nor Docker's): noise in the timings.
    snap['other'] = this.noise.mark()
    return snap
  }

  /** CPU milliseconds used by each process since `before`. */
  since(before: Record<string, number>): Record<string, number> {
    const now = this.snapshot()
    return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]))
  }
}

/** CPU of a process's reaped children (cutime + cstime). */
function childrenCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[13]) + Number(fields[14])) * TICK_MS
  } catch {
    return 0
  }
}

/** Busy CPU time of the whole machine (all CPUs, everything but idle and iowait). */
function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const v = line.split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
  return (total - (v[3] ?? 0) - (v[4] ?? 0)) * TICK_MS
}

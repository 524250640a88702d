import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 10

/** Docker's own processes and what they run: their CPU is part of both sides' cost, not noise. */
const DOCKER_COMMS = /^(dockerd|containerd|containerd-shim.*|runc.*|docker-init|docker-proxy)$/

interface Proc {
  ppid: number
  comm: string
  cpu: number
}

function readAll(): Map<number, Proc> {
  const all = new Map<number, Proc>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const open = stat.indexOf('(')
      const close = stat.lastIndexOf(')')
      const f = stat.slice(close + 2).split(' ')
      all.set(Number(d), {
        comm: stat.slice(open + 1, close),
        ppid: Number(f[1]),
        cpu: (Number(f[11]) + Number(f[12])) * TICK_MS,
      })
    } catch {
      // the process ended between readdir and read
    }
  }
  return all
}

/**
 * Samples every process a few times a second and adds up the CPU of those that are neither the
 * bench's own (its descendants) nor Docker's (daemons, shims and the containers under them):
 * other work on a shared machine that skews the timings. Short processes are partly missed.
 */
export class NoiseMeter {
  private readonly seen = new Map<number, { first: number; last: number; foreign: boolean; comm: string }>()
  private timer: ReturnType<typeof setInterval> | undefined
  /** Processes of the bench that are not its descendants (a PostgreSQL cluster daemonizes). */
  private readonly adopted = new Set<number>()

  /** Counts `pid` and its descendants as the bench's own, not as noise. */
  adopt(pid: number): void {
    this.adopted.add(pid)
  }

  start(periodMs = 250): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), periodMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private sample(): void {
    const all = readAll()
    const self = process.pid
    const classify = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        const proc = all.get(p)
        if (!proc) return true
        if (p === self || this.adopted.has(p) || DOCKER_COMMS.test(proc.comm)) return false
        p = proc.ppid
      }
      return true
    }
    for (const [pid, proc] of all) {
      const s = this.seen.get(pid)
      if (s && s.comm === proc.comm) s.last = proc.cpu
      else this.seen.set(pid, { first: proc.cpu, last: proc.cpu, foreign: classify(pid), comm: proc.comm })
    }
  }

  /** Foreign CPU (ms) seen so far; differences of two marks give a phase's. */
  mark(): number {
    this.sample()
    let total = 0
    for (const s of this.seen.values()) if (s.foreign) total += s.last - s.first
    return total
  }

  /**
   * Waits until other work has used less than `maxCores` for a whole second, at most `maxWaitMs`;
   * returns how long it waited. Keeps a shared machine's builds and tests out of the timings.
   */
  async quiet(maxWaitMs: number, maxCores = 0.15): Promise<number> {
    const t0 = Date.now()
    while (Date.now() - t0 < maxWaitMs) {
      const m = this.mark()
      await Bun.sleep(1000)
      if (this.mark() - m < maxCores * 1000) break
    }
    return Date.now() - t0
  }

  /** The foreign commands that used the most CPU over the whole run. */
  top(n = 4): string {
    const by = new Map<string, number>()
    for (const s of this.seen.values())
      if (s.foreign) by.set(s.comm, (by.get(s.comm) ?? 0) + s.last - s.first)
    return [...by.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(', ')
  }
}

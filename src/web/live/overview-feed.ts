import type { Observer } from '../../coordinator/observe'
import type { WebDeps } from '../env'

/** Length of one bar of the throughput chart. */
export const MINUTE_MS = 60_000
/** Bars of the throughput chart: the last hour, the current minute last. */
export const CHART_MINUTES = 60
/** How often the figures are read again while someone watches. */
export const REFRESH_MS = 2_000
/** Least time between two reads, however often things change (a busy grid changes all the time). */
const MIN_GAP_MS = 500

/** The grid's figures the overview shows: the same for everyone (escrow aside, see `escrowMc`). */
export interface OverviewFigures {
  workers: number
  slots: number
  busy: number
  free: number
  queued: number
  running: number
  /** Jobs that ended (succeeded, failed or were cancelled) in the chart's hour, and those that failed. */
  finished: number
  failed: number
  /** Jobs ended per minute, oldest first; `chartStart` is the first minute's start (ms). */
  throughput: number[]
  chartStart: number
  /** Millicredits in escrow over the whole grid (operators see it; others see their own). */
  escrowMc: number
  at: number
}

/** Reads the figures: sockets from the hub, jobs and escrow from the store (three indexed queries). */
export async function readFigures(deps: WebDeps): Promise<OverviewFigures> {
  const now = deps.clock.now()
  const chartStart = Math.floor(now / MINUTE_MS) * MINUTE_MS - (CHART_MINUTES - 1) * MINUTE_MS
  const conns = deps.hub.connected()
  let slots = 0
  let busy = 0
  for (const c of conns) {
    slots += c.slots
    busy += Math.min(c.active.size, c.slots)
  }
  const [counts, ended, escrowMc] = await Promise.all([
    deps.store.queue.counts(),
    deps.store.stats.finishedSince(chartStart, MINUTE_MS),
    deps.store.stats.escrowTotal(),
  ])
  const throughput = new Array<number>(CHART_MINUTES).fill(0)
  let finished = 0
  let failed = 0
  for (const b of ended) {
    const i = Math.round((b.at - chartStart) / MINUTE_MS)
    if (i < 0 || i >= CHART_MINUTES) continue
    throughput[i] = (throughput[i] ?? 0) + b.n
    finished += b.n
    if (b.state === 'failed') failed += b.n
  }
  return {
    workers: conns.length,
    slots,
    busy,
    free: slots - busy,
    queued: counts['queued'] ?? 0,
    running: (counts['assigned'] ?? 0) + (counts['running'] ?? 0),
    finished,
    failed,
    throughput,
    chartStart,
    escrowMc,
    at: now,
  }
}

/**
 * The overview's figures for every live page of this coordinator: read once for all watchers,
 * every `REFRESH_MS` and soon after a change (a job's transition, a worker joining or leaving),
 * and only while someone watches. What the observers call is O(1): it arms one timer at most.
 */
export class OverviewFeed implements Observer {
  private readonly watchers = new Set<(f: OverviewFigures) => void>()
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires (ms). */
  private due = 0
  private reading = false
  private again = false
  private lastRead = 0
  private latest: OverviewFigures | undefined

  constructor(private readonly deps: WebDeps) {
    deps.observers?.add(this)
  }

  /** Calls `watch` with every new reading (the first as soon as there is one); returns the unsubscribe. */
  subscribe(watch: (f: OverviewFigures) => void): () => void {
    this.watchers.add(watch)
    if (this.latest && Date.now() - this.lastRead < REFRESH_MS) watch(this.latest)
    else this.schedule(0)
    if (!this.timer) this.schedule(REFRESH_MS)
    return () => {
      this.watchers.delete(watch)
      if (this.watchers.size === 0 && this.timer) {
        clearTimeout(this.timer)
        this.timer = undefined
      }
    }
  }

  transition(): void {
    this.changed()
  }

  workerJoined(): void {
    this.changed()
  }

  workerLeft(): void {
    this.changed()
  }

  private changed(): void {
    if (this.watchers.size === 0) return
    this.schedule(Math.max(0, this.lastRead + MIN_GAP_MS - Date.now()))
  }

  /** Reads within `ms` (an earlier timer already armed stays). */
  private schedule(ms: number): void {
    const due = Date.now() + ms
    if (this.timer) {
      if (due >= this.due) return
      clearTimeout(this.timer)
    }
    this.due = due
    this.timer = setTimeout(() => void this.read(), ms)
    this.timer.unref?.()
  }

  private async read(): Promise<void> {
    this.timer = undefined
    if (this.watchers.size === 0) return
    if (this.reading) {
      this.again = true
      return
    }
    this.reading = true
    try {
      this.latest = await readFigures(this.deps)
      this.lastRead = Date.now()
      for (const w of this.watchers) w(this.latest)
    } catch (err) {
      // The database is away (its outage is logged by the store): the next reading tries again.
      void err
    } finally {
      this.reading = false
      if (this.watchers.size > 0) this.schedule(this.again ? MIN_GAP_MS : REFRESH_MS)
      this.again = false
    }
  }
}

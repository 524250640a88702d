import { isFinal } from '../../protocol/api'
import { Outcome, type WorkerMessage } from '../../protocol/worker'
import type { Hub } from '../hub'
import type { Observer, Transition } from '../observe'
import type { Store } from '../store'
import type { CounterChild } from './counter'
import type { Registry } from './registry'

/** A worker socket frame's type as counted: the protocol's, or `invalid` for one that did not parse. */
export type FrameType = WorkerMessage['type'] | 'invalid'

/** Every frame type, so each has a series from the start (the compiler finds a missing one). */
const FRAME_TYPES: Record<FrameType, null> = {
  hello: null,
  heartbeat: null,
  'job.started': null,
  'job.output': null,
  'job.result': null,
  drain: null,
  'job.release': null,
  invalid: null,
}

/** How jobs end, as labels: a worker's outcomes and the coordinator's own; anything else is `other`. */
const OUTCOMES = new Set<string>([...Outcome.options, 'lost', 'install_failed', 'cancelled'])

/** Seconds a job may wait in the queue: from a busy grid's milliseconds to a backlog of hours. */
const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400]
/** Seconds an attempt may run: from a `print` to a day. */
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 10_800, 43_200, 86_400]

/** What the grid's gauges are read from at scrape time. */
export interface GridSources {
  store: Pick<Store, 'queue' | 'credits'>
  hub: Pick<Hub, 'connected'>
}

/**
 * The grid's metrics: counters and histograms fed by the Observer seam (one Map lookup at most per
 * transition; children bound here), gauges read from the hub and the store when scraped.
 */
export class GridMetrics implements Observer {
  private readonly finished
  private readonly finishedBy = new Map<string, Map<string, CounterChild>>()
  private readonly wait
  private readonly run
  private readonly dispatches
  private readonly requeues
  private readonly settled
  private readonly frames = new Map<FrameType, CounterChild>()

  constructor(registry: Registry, { store, hub }: GridSources) {
    registry.gauge({
      name: 'gridx_jobs',
      help: 'Jobs not yet finished, by state (from the database: every coordinator of the grid).',
      labels: ['state'],
      collect: async (set) => {
        const counts = await store.queue.counts()
        for (const state of ['queued', 'assigned', 'running']) set(counts[state] ?? 0, state)
      },
    })
    this.finished = registry.counter({
      name: 'gridx_jobs_finished_total',
      help: 'Jobs this coordinator saw end, by final state and outcome.',
      labels: ['state', 'outcome'],
    })
    this.wait = registry.histogram({
      name: 'gridx_job_queue_wait_seconds',
      help: 'Time from submission to the first assignment of a job, per job this coordinator assigned (later attempts are not counted).',
      buckets: WAIT_BUCKETS,
    })
    this.run = registry.histogram({
      name: 'gridx_job_run_seconds',
      help: 'Run time of attempts that ended a job, as the coordinator saw it (from the start it was told of).',
      buckets: RUN_BUCKETS,
    })
    this.dispatches = registry.counter({
      name: 'gridx_dispatches_total',
      help: 'Jobs assigned to a worker by this coordinator.',
    })
    this.requeues = registry.counter({
      name: 'gridx_requeues_total',
      help: 'Attempts that went back to the queue (lost worker, expired lease, retryable failure).',
    })
    registry.gauge({
      name: 'gridx_workers_connected',
      help: 'Worker sockets connected to this coordinator (said hello).',
      collect: (set) => set(hub.connected().length),
    })
    registry.gauge({
      name: 'gridx_worker_slots',
      help: 'Job slots of the workers connected here: busy, or free (a draining worker has none free).',
      labels: ['state'],
      collect: (set) => {
        let busy = 0
        let free = 0
        for (const c of hub.connected()) {
          busy += c.active.size
          if (!c.draining) free += Math.max(0, c.slots - c.active.size)
        }
        set(busy, 'busy')
        set(free, 'free')
      },
    })
    registry.gauge({
      name: 'gridx_escrow_credits',
      help: 'Credits held in escrow for jobs not yet settled (the whole grid).',
      collect: async (set) => set((await store.credits.escrowTotal()) / 1000),
    })
    this.settled = registry.counter({
      name: 'gridx_settled_credits_total',
      help: "Credits paid to workers' owners for jobs that ended here.",
    })
    const messages = registry.counter({
      name: 'gridx_worker_messages_total',
      help: 'Frames received on worker sockets, by message type (invalid: did not parse).',
      labels: ['type'],
    })
    for (const type of Object.keys(FRAME_TYPES) as FrameType[]) this.frames.set(type, messages.labels(type))
    for (const c of [this.dispatches, this.requeues, this.settled]) c.inc(0)
  }

  /** Counts one worker socket frame (called by the hub for every frame it reads). */
  frame = (type: FrameType): void => {
    this.frames.get(type)?.inc()
  }

  transition(t: Transition): void {
    if (t.to === 'assigned') {
      this.dispatches.inc()
      if (t.waitedMs !== undefined) this.wait.observe(t.waitedMs / 1000)
      return
    }
    if (t.to === 'queued') {
      if (t.from !== null) this.requeues.inc()
      return
    }
    if (!isFinal(t.to)) return
    this.finishedChild(t.to, t.outcome ?? 'other').inc()
    if (t.ranMs !== undefined) this.run.observe(t.ranMs / 1000)
    if (t.costMc !== undefined) this.settled.inc(t.costMc / 1000)
  }

  workerJoined(): void {
    // Read from the hub when scraped.
  }

  workerLeft(): void {
    // Read from the hub when scraped.
  }

  /** The finished counter of a state and outcome, bound once: two Map lookups on the hot path. */
  private finishedChild(state: string, outcome: string): CounterChild {
    let byOutcome = this.finishedBy.get(state)
    if (!byOutcome) this.finishedBy.set(state, (byOutcome = new Map<string, CounterChild>()))
    let child = byOutcome.get(outcome)
    if (!child) {
      child = this.finished.labels(state, OUTCOMES.has(outcome) ? outcome : 'other')
      // Cached under the bounded label only: a stray outcome cannot grow this map either.
      if (OUTCOMES.has(outcome)) byOutcome.set(outcome, child)
    }
    return child
  }
}

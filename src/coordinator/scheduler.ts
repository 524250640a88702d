import { accepts, type Needs, type Offer, whyNoWorker } from '../protocol/placement'
import type { CoordinatorMessage } from '../protocol/worker'
import type { JobEvents } from './events'
import type { Hub, WorkerConn } from './hub'
import { workerFaultReason } from './install-failure'
import type { Clock, Settings } from './settings'
import type { JobRow, QueuedJob, Store } from './store'
import { leaseFor } from './heartbeat-budget'

/** How many queued jobs of each user one pass looks at, at most. */
const PER_OWNER = 64

/**
 * Jobs of each user a pass looks at beyond its free slots, for jobs no free worker fits (they are
 * skipped). A pass never assigns more than the free slots, so reading 64 of every user's jobs
 * for each result that frees one slot was most of a pass's cost (the `make bench` dispatch bench).
 */
const LOOK_AHEAD = 8

type Queued = QueuedJob

/**
 * Matches queued jobs to connected workers that can take them. Between users it shares fairly:
 * the next job always comes from the user with the fewest jobs running, so one user's thousand
 * queued jobs do not starve another's one. Within a user, higher --priority first, then oldest.
 */
export class Scheduler {
  private pending = false
  /** A pass is under way; a wake meanwhile asks for another after it (`again`). */
  private passing = false
  private again = false

  constructor(
    private readonly store: Store,
    private readonly hub: Hub,
    private readonly events: JobEvents,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Asks the other coordinators of the grid for a pass too (set by the server). */
  onWake: (() => void) | undefined

  /**
   * Asks for a pass soon; many wakes in one tick make one pass, and passes never overlap.
   * `relay`: also ask the other coordinators (not when they asked this one).
   */
  wake(relay = true): void {
    if (relay) this.onWake?.()
    if (this.passing) {
      this.again = true
      return
    }
    if (this.pending) return
    this.pending = true
    queueMicrotask(() => {
      this.pending = false
      void this.run()
    })
  }

  private async run(): Promise<void> {
    this.passing = true
    try {
      do {
        this.again = false
        try {
          await this.pass()
        } catch (err) {
          this.onError(err)
        }
      } while (this.again)
    } finally {
      this.passing = false
    }
  }

  /** Assigns as many queued jobs as the connected workers can take now. */
  async pass(): Promise<number> {
    const workers = this.hub.connected()
    const hasRoom = () => workers.some((w) => !w.draining && w.active.size < w.slots)
    if (!hasRoom()) return 0
    const free = workers.reduce((n, w) => n + (w.draining ? 0 : Math.max(0, w.slots - w.active.size)), 0)
    const queues = await this.store.queue.queuedByOwner(Math.min(PER_OWNER, free + LOOK_AHEAD))
    const running = await this.store.queue.activeByOwner()
    let assigned = 0
    while (queues.size > 0 && hasRoom()) {
      const owner = nextOwner(queues, running)
      const queue = queues.get(owner)!
      const job = queue.shift()!
      if (queue.length === 0) queues.delete(owner)
      const worker = pick(workers, needsOf(job), job.installFailedOn)
      // A job no free worker can fit waits; the owner's next job may still fit.
      if (!worker || !(await this.assign(job, worker))) continue
      running.set(owner, (running.get(owner) ?? 0) + 1)
      assigned++
    }
    return assigned
  }

  /** Says why a queued job has not started yet. */
  async explain(job: JobRow): Promise<string> {
    const connected = this.hub.connected()
    const workers = connected.filter((w) => !w.draining)
    if (connected.length > 0 && workers.length === 0) {
      return 'every connected worker is draining (shutting down): the job starts when another connects'
    }
    if (workers.length === 0) return "no worker is connected: the job starts when one connects ('gridx work')"
    const needs = needsOf(job)
    const fits = workers.filter((w) => accepts(offerOf(w), needs))
    if (fits.length === 0) return whyNoWorker(workers.map(offerOf), needs)
    const untried = fits.filter((w) => !job.installFailedOn.includes(w.id))
    if (untried.length === 0) {
      const names = fits.map((w) => w.name).join(', ')
      // Their fault, not the requirements' (a package fault fails the job at once): nothing to fix in it.
      const reason = workerFaultReason(job.error) ?? 'see its attempts'
      return `its packages failed to install on ${names} (${fits.length > 1 ? 'the last: ' : ''}${reason}), and no other connected worker that installs packages can take it: it waits for one (attempt ${job.attempt} of ${job.maxAttempts}), or cancel it`
    }
    const slots = fits.reduce((n, w) => n + w.slots, 0)
    const { aheadOfMine, queued } = await this.store.queue.position(job)
    return `all ${slots} slots of the ${fits.length} worker(s) that fit it are busy; ${aheadOfMine} of your queued jobs are ahead of it, ${queued} jobs are queued in all (users take turns)`
  }

  private async assign(job: Queued, worker: WorkerConn): Promise<boolean> {
    const now = this.clock.now()
    // The slot is held while the store answers, so a report meanwhile cannot overfill the worker.
    worker.active.add(job.id)
    let row: JobRow | undefined
    try {
      row = await this.store.leases.assign(
        job.id,
        worker.id,
        // Lasting as long as the worker's heartbeat interval calls for (the grid's heartbeat budget).
        now + leaseFor(worker.beatMs, this.settings),
        now,
        this.settings.startAllowanceMs,
      )
    } finally {
      if (!row) worker.active.delete(job.id)
    }
    if (!row) return false
    const msg: CoordinatorMessage = {
      type: 'job.assign',
      job: {
        jobId: row.id,
        attempt: row.attempt,
        image: row.image,
        command: row.command,
        script:
          row.scriptName && row.script
            ? { name: row.scriptName, contentBase64: row.script.toString('base64') }
            : null,
        args: row.args,
        timeoutMs: row.timeoutMs,
        cpus: row.cpus,
        memoryBytes: row.memoryBytes,
        inputs: row.inputsSha256 === null ? null : { sha256: row.inputsSha256, bytes: row.inputsBytes ?? 0 },
        logLimitBytes: this.settings.outputCapBytes,
        outputLimitBytes: this.settings.maxOutputBytes,
        requirements: row.requirements,
        requiresPython: row.requiresPython,
      },
    }
    // If the send is lost, the lease expires and the job is requeued: the row stays the truth.
    this.hub.send(worker.id, msg)
    this.events.publish(row.id, {
      type: 'state',
      state: 'assigned',
      attempt: row.attempt,
      worker: worker.name,
    })
    return true
  }
}

/** The user whose turn it is: fewest jobs running, then the oldest waiting head job. */
function nextOwner(queues: Map<string, Queued[]>, running: Map<string, number>): string {
  let best: string | undefined
  let bestKey: [number, number] = [Infinity, Infinity]
  for (const [owner, queue] of queues) {
    const key: [number, number] = [running.get(owner) ?? 0, queue[0]!.createdAt]
    if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
      best = owner
      bestKey = key
    }
  }
  return best!
}

/** What a connected worker offers, for placement checks. */
function offerOf(w: WorkerConn): Offer {
  return { cpus: w.cpus, memoryBytes: w.memoryBytes, ...w.policy }
}

/** What a queued job needs from a worker. */
function needsOf(job: Queued): Needs {
  return { ...job, packages: job.requirements.length > 0 }
}

/**
 * The least busy worker that takes the job, so load spreads across workers; never one in
 * `avoid` (its packages failed to install there for a reason of that worker's).
 */
function pick(workers: WorkerConn[], job: Needs, avoid: readonly string[]): WorkerConn | undefined {
  let best: WorkerConn | undefined
  for (const w of workers) {
    if (w.draining || w.active.size >= w.slots || avoid.includes(w.id) || !accepts(offerOf(w), job)) continue
    if (!best || w.active.size / w.slots < best.active.size / best.slots) best = w
  }
  return best
}

import { accepts, type Needs, type Offer, whyNoWorker } from '../protocol/placement'
import type { CoordinatorMessage } from '../protocol/worker'
import type { JobEvents } from './events'
import { Observers, type Observer } from './observe'
import type { Hub, WorkerConn } from './hub'
import { workerFaultReason } from './install-failure'
import type { Clock, Settings } from './settings'
import type { Cursor, QueueIndex } from './queue-index'
import type { JobRow, QueuedJob, Store } from './store'
import { leaseFor } from './heartbeat-budget'

/**
 * Jobs of each user a pass looks at beyond its free slots, for jobs no free worker fits (they are
 * skipped, so one user's unplaceable jobs never block another's). A pass never assigns more than
 * the free slots, so this bounds a pass's cost whatever the length of the queue.
 */
const LOOK_AHEAD = 8

/** A job chosen for a worker in a pass, its slot held until the store answers. */
interface Pick {
  job: QueuedJob
  worker: WorkerConn
}

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
  /** Hears every assignment (the log, the metrics). */
  observe: Observer = new Observers()

  constructor(
    private readonly store: Store,
    private readonly index: QueueIndex,
    private readonly hub: Hub,
    private readonly events: JobEvents,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Assigned jobs this coordinator took from the queue (set by the server: the others drop them). */
  onTaken: ((ids: string[]) => void) | undefined
  /** Hears of each attempt assigned here, with its row (the lifecycle's `LeaseMemo`). */
  onAssigned: ((row: JobRow) => void) | undefined

  /** Reads the queue into the index afresh: at start, and after the grid's channel was down. */
  async load(): Promise<void> {
    const [queued, active] = await Promise.all([this.store.queue.queued(), this.store.queue.active()])
    this.index.load(queued, active)
  }

  /** Asks for a pass soon; many wakes in one tick make one pass, and passes never overlap. */
  wake(): void {
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

  /**
   * Assigns as many queued jobs as the connected workers can take now, in one store call: the
   * choices are made in memory (fair share from the index), then stored together.
   */
  async pass(): Promise<number> {
    const workers = this.hub.connected()
    let free = workers.reduce((n, w) => n + (w.draining ? 0 : Math.max(0, w.slots - w.active.size)), 0)
    if (free === 0 || this.index.size === 0) return 0
    const limit = free + LOOK_AHEAD
    const cursors = this.index.cursors()
    const picks: Pick[] = []
    while (free > 0 && cursors.length > 0) {
      const at = this.nextOwner(cursors)
      const cursor = cursors[at]!
      const job = cursor.job()
      if (!job || cursor.looked >= limit) {
        cursors.splice(at, 1)
        continue
      }
      cursor.advance()
      // Its array runs as many members as its `%N` allows: it waits, the owner's next job may not.
      if (this.index.capped(job)) continue
      const worker = pick(workers, needsOf(job), job.installFailedOn)
      // A job no free worker can fit waits; the owner's next job may still fit.
      if (!worker) continue
      // The slot is held while the store answers, so a report meanwhile cannot overfill the worker.
      worker.active.add(job.id)
      this.index.remove(job.id)
      this.index.started(job.id, job.ownerId, job.arrayId)
      picks.push({ job, worker })
      free--
    }
    if (picks.length === 0) return 0
    return await this.assign(picks)
  }

  /** The cursor of the user whose turn it is: fewest jobs running, then the oldest waiting head job. */
  private nextOwner(cursors: readonly Cursor[]): number {
    let best = 0
    let bestRunning = Infinity
    let bestAge = Infinity
    for (let i = 0; i < cursors.length; i++) {
      const c = cursors[i]!
      const running = this.index.runningOf(c.ownerId)
      const age = c.job()?.createdAt ?? -Infinity
      if (running < bestRunning || (running === bestRunning && age < bestAge)) {
        best = i
        bestRunning = running
        bestAge = age
      }
    }
    return best
  }

  /** Says why a queued job has not started yet. */
  async explain(job: QueuedJob): Promise<string> {
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
    if (this.index.capped(job)) {
      return `its array ${job.arrayId} runs at most ${job.arrayCap} members at once (--array ...%${job.arrayCap}): it starts when one of them ends`
    }
    const slots = fits.reduce((n, w) => n + w.slots, 0)
    const { aheadOfMine, queued } = await this.store.queue.position(job)
    return `all ${slots} slots of the ${fits.length} worker(s) that fit it are busy; ${aheadOfMine} of your queued jobs are ahead of it, ${queued} jobs are queued in all (users take turns)`
  }

  private async assign(picks: Pick[]): Promise<number> {
    const now = this.clock.now()
    let rows: Map<string, JobRow>
    try {
      rows = await this.store.leases.assignMany(
        picks.map((p) => ({
          jobId: p.job.id,
          workerId: p.worker.id,
          // Lasting as long as the worker's heartbeat interval calls for (the grid's heartbeat budget).
          leaseExpiresAt: now + leaseFor(p.worker.beatMs, this.settings),
        })),
        now,
        this.settings.startAllowanceMs,
      )
    } catch (err) {
      // Nothing was stored: every job is still queued, and waits in the index for the next pass.
      for (const p of picks) this.undo(p, true)
      throw err
    }
    for (const p of picks) {
      const row = rows.get(p.job.id)
      // Taken meanwhile (another coordinator, or cancelled): it is no longer queued anywhere.
      if (!row) this.undo(p, false)
      else {
        this.onAssigned?.(row)
        this.send(row, p.worker)
      }
    }
    if (rows.size > 0) this.onTaken?.([...rows.keys()])
    return rows.size
  }

  /** Gives back a pick's slot and running count; `requeue`: the job is still queued. */
  private undo(p: Pick, requeue: boolean): void {
    p.worker.active.delete(p.job.id)
    this.index.stopped(p.job.id)
    if (requeue) this.index.add(p.job)
  }

  private send(row: JobRow, worker: WorkerConn): void {
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
        env: row.env,
        array: row.arrayId === null ? null : { id: row.arrayId, index: row.arrayIndex ?? 0 },
      },
    }
    // If the send is lost, the lease expires and the job is requeued: the row stays the truth.
    worker.assignedHere.add(row.id)
    this.hub.send(worker.id, msg)
    const at = this.clock.now()
    this.observe.transition({
      jobId: row.id,
      attempt: row.attempt,
      ownerId: row.ownerId,
      workerId: worker.id,
      from: 'queued',
      to: 'assigned',
      reason: null,
      // From submission to the first assignment only: a requeued job's later waits would count
      // the time its earlier attempts ran.
      waitedMs: row.attempt === 1 ? Math.max(0, at - row.createdAt) : undefined,
      at,
    })
    this.events.publish(row.id, {
      type: 'state',
      state: 'assigned',
      attempt: row.attempt,
      worker: worker.name,
    })
  }
}

/** What a connected worker offers, for placement checks. */
function offerOf(w: WorkerConn): Offer {
  return { cpus: w.cpus, memoryBytes: w.memoryBytes, ...w.policy }
}

/** What a queued job needs from a worker. */
function needsOf(job: QueuedJob): Needs {
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

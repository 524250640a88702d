import type { CoordinatorMessage } from '../protocol/worker'
import type { JobEvents } from './events'
import type { Hub, WorkerConn } from './hub'
import type { Clock, Settings } from './settings'
import type { Store } from './store'

/** Matches queued jobs to connected workers with room for them, oldest job first. */
export class Scheduler {
  private pending = false

  constructor(
    private readonly store: Store,
    private readonly hub: Hub,
    private readonly events: JobEvents,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Asks for a pass soon; many wakes in one tick make one pass. */
  wake(): void {
    if (this.pending) return
    this.pending = true
    queueMicrotask(() => {
      this.pending = false
      try {
        this.pass()
      } catch (err) {
        this.onError(err)
      }
    })
  }

  /** Assigns as many queued jobs as the connected workers can take now. */
  pass(): number {
    const workers = this.hub.connected()
    if (!workers.some((w) => w.active.size < w.slots)) return 0
    let assigned = 0
    for (const job of this.store.queued(1000)) {
      const worker = pick(workers, job.cpus, job.memoryBytes)
      if (!worker) {
        if (!workers.some((w) => w.active.size < w.slots)) break
        continue
      }
      const row = this.store.assign(job.id, worker.id, this.clock.now() + this.settings.leaseMs)
      if (!row) continue
      worker.active.add(row.id)
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
      assigned++
    }
    return assigned
  }
}

/** The least busy worker that fits the job, so load spreads across workers. */
function pick(workers: WorkerConn[], cpus: number, memoryBytes: number): WorkerConn | undefined {
  let best: WorkerConn | undefined
  for (const w of workers) {
    if (w.active.size >= w.slots || w.cpus < cpus || w.memoryBytes < memoryBytes) continue
    if (!best || w.active.size / w.slots < best.active.size / best.slots) best = w
  }
  return best
}

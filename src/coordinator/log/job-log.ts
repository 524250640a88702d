import { isFinal } from '../../protocol/api'
import type { Observer, Transition, WorkerLink } from '../observe'
import type { Logger } from './logger'
import { BoundedMap, NameCache } from './names'

/** What the job log reads names from; each is called only on a cache miss, off the hot path. */
export interface JobLogDeps {
  /** A connected worker's name (`Hub.nameOf`); its id when it is not connected here. */
  workerName(workerId: string): string
  /** An account's name by its id (a store read). */
  userName(userId: string): Promise<string | undefined>
  /** A job's owner's id (a store read), for a transition whose maker did not know it. */
  jobOwner(jobId: string): Promise<string | undefined>
}

/** Jobs whose owner is remembered from their submission or assignment until they end. */
const OWNERS_KEPT = 200_000

/**
 * Lines that may wait behind a name read at once. Past it (a database that hangs in an outage
 * while jobs go on ending), a line is written at once without the user's name: memory stays
 * bounded and no line is lost, only that field.
 */
export const MAX_WAITING_LINES = 10_000

/**
 * The `job` and `worker` lines of the log, as an Observer. A transition's owner and names come
 * from caches filled when jobs are submitted or assigned and workers say hello; a miss (a job
 * queued before a restart, by another coordinator) is read once, and the lines after it wait
 * behind that read so a job's lines stay in order.
 */
export class JobLog implements Observer {
  private readonly owners = new BoundedMap<string, string>(OWNERS_KEPT)
  private readonly users: NameCache
  private readonly jobOwners: NameCache
  /** Names of workers seen here, for transitions after their socket closed. */
  private readonly workers = new BoundedMap<string, string>(10_000)
  /** Lines waiting behind a read, in order. */
  private behind: Promise<void> | undefined
  private waiting = 0

  constructor(
    private readonly logger: Logger,
    private readonly deps: JobLogDeps,
  ) {
    this.users = new NameCache((id) => deps.userName(id))
    this.jobOwners = new NameCache((id) => deps.jobOwner(id))
  }

  transition(t: Transition): void {
    let ownerId = t.ownerId ?? this.owners.get(t.jobId)
    if (isFinal(t.to)) this.owners.delete(t.jobId)
    else if (t.ownerId !== null) this.owners.set(t.jobId, t.ownerId)
    const user = ownerId === undefined ? undefined : this.users.peek(ownerId)
    if (user !== undefined && this.behind === undefined) return this.write(t, user)
    if (this.waiting >= MAX_WAITING_LINES) return this.write(t, user)
    // A miss: read what is missing, then write; later lines queue behind it.
    this.waiting++
    const prev = this.behind ?? Promise.resolve()
    const next = prev
      .then(async () => {
        ownerId ??= await this.jobOwners.get(t.jobId)
        this.write(t, ownerId === undefined ? undefined : await this.users.get(ownerId))
      })
      .catch(() => undefined)
    this.behind = next.finally(() => {
      if (--this.waiting === 0) this.behind = undefined
    })
  }

  workerJoined(w: WorkerLink): void {
    this.workers.set(w.workerId, w.name)
    this.logger.event('info', 'worker', this.workerFields(w, 'connected'), w.at)
  }

  workerLeft(w: WorkerLink): void {
    // 1000 (normal) and 1001 (going away) are a worker or coordinator stopping; the others a loss.
    const usual = w.close === undefined || w.close.code === 1000 || w.close.code === 1001
    this.logger.event(usual ? 'info' : 'warn', 'worker', this.workerFields(w, 'disconnected'), w.at)
  }

  private workerFields(w: WorkerLink, state: string) {
    return {
      state,
      worker: w.name,
      worker_id: w.workerId,
      owner: w.owner,
      code: w.close?.code,
      reason: w.close?.reason || undefined,
    }
  }

  private workerName(id: string): string {
    const name = this.deps.workerName(id)
    return name !== id ? name : (this.workers.get(id) ?? id)
  }

  private write(t: Transition, user: string | undefined): void {
    const level = t.to === 'failed' ? 'warn' : t.from !== null && t.to === 'queued' ? 'warn' : 'info'
    this.logger.event(
      level,
      'job',
      {
        job: t.jobId,
        // A submission has had no attempt yet (0): the line says none.
        attempt: t.attempt > 0 ? t.attempt : undefined,
        user,
        worker: t.workerId === null ? undefined : this.workerName(t.workerId),
        from: t.from,
        to: t.to,
        reason: t.reason,
        outcome: t.outcome,
        waited_ms: t.waitedMs,
        ran_ms: t.ranMs,
        cost_mc: t.costMc,
      },
      t.at,
    )
  }
}

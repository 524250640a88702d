import type { CoordinatorMessage, LeaseRef, WorkerMessage } from '../protocol/worker'

type Result = Extract<WorkerMessage, { type: 'job.result' }>
type Refusal = Extract<CoordinatorMessage, { type: 'job.refused' }>

/** How soon a result the coordinator could not take yet is sent again. */
export const RESEND_MS = 10_000

/**
 * Results the coordinator has not acknowledged yet. Each is kept until a `job.ack`, or a final
 * `job.refused`; it is sent again after every welcome, and `RESEND_MS` after a refusal that
 * says to retry. Its lease stays in the worker's heartbeats meanwhile, so the job is not lost.
 */
export class PendingResults {
  private readonly results = new Map<string, Result>()
  /** Refused for now: sent again when the resend timer fires. */
  private readonly deferred = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly resend: (msg: Result) => void) {}

  /** Keeps a result until the coordinator has it. */
  add(msg: Result): void {
    this.results.set(key(msg.lease), msg)
  }

  /** The coordinator has the result: forget it. */
  ack(lease: LeaseRef): void {
    this.results.delete(key(lease))
    this.deferred.delete(key(lease))
  }

  /**
   * The coordinator did not take a result: a final refusal drops it, a transient one schedules
   * it to be sent again. Says which, or `unknown` when no such result is kept.
   */
  refused(msg: Refusal): 'dropped' | 'kept' | 'unknown' {
    const k = key(msg.lease)
    if (!this.results.has(k)) return 'unknown'
    if (!msg.retry) {
      this.ack(msg.lease)
      return 'dropped'
    }
    this.deferred.add(k)
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      for (const d of this.deferred) {
        const m = this.results.get(d)
        if (m) this.resend(m)
      }
      this.deferred.clear()
    }, RESEND_MS)
    return 'kept'
  }

  /** Every kept result, to send after a welcome (which makes any pending resend moot). */
  all(): Result[] {
    this.deferred.clear()
    return [...this.results.values()]
  }

  /** Leases of the kept results. */
  leases(): LeaseRef[] {
    return [...this.results.values()].map((m) => m.lease)
  }

  /** How many results wait for the coordinator. */
  get size(): number {
    return this.results.size
  }

  /** Stops the resend timer (the agent is stopping). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/** The key of a lease in maps. */
export function key(lease: LeaseRef): string {
  return `${lease.jobId}#${lease.attempt}`
}

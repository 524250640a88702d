import type { JobState } from '../protocol/api'

/** Something that happened to one job, as followers of its output see it. */
export type JobEvent =
  | { type: 'output'; attempt: number; seq: number; stream: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'state'; state: JobState; attempt: number; worker: string | null; reason?: string }
  | { type: 'end' }
  /** Output up to `seq` is stored by another coordinator: read it from the store. */
  | { type: 'stored'; attempt: number; seq: number }

/** A follower's queue of events for one job; `next` waits for the next one. */
export class Subscription {
  private readonly queue: JobEvent[] = []
  private waiter: (() => void) | undefined
  private closed = false

  constructor(private readonly detach: () => void) {}

  /** Delivers an event (called by the bus). */
  push(event: JobEvent): void {
    this.queue.push(event)
    this.waiter?.()
  }

  /** The next event, or undefined once closed or when `signal` aborts. */
  async next(signal: AbortSignal): Promise<JobEvent | undefined> {
    while (this.queue.length === 0) {
      if (this.closed || signal.aborted) return undefined
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiter = undefined
          signal.removeEventListener('abort', done)
          resolve()
        }
        this.waiter = done
        signal.addEventListener('abort', done, { once: true })
      })
    }
    return this.queue.shift()
  }

  /** Stops delivery and releases the follower. */
  close(): void {
    this.closed = true
    this.detach()
    this.waiter?.()
  }
}

/**
 * In-process fan-out of job events to the clients following them; with several coordinators,
 * `relay` passes this one's events on to the others, which `deliver` theirs. The store stays the truth.
 */
export class JobEvents {
  private readonly subs = new Map<string, Set<Subscription>>()
  /** Passes an event that happened here to the other coordinators of the grid. */
  relay: ((jobId: string, event: JobEvent) => void) | undefined
  /** A job got its first follower here (the grid asks for its events from elsewhere). */
  followed: ((jobId: string) => void) | undefined

  /** Starts following a job; close the subscription when done. */
  subscribe(jobId: string): Subscription {
    const known = this.subs.get(jobId)
    const set = known ?? new Set<Subscription>()
    if (!known) {
      this.subs.set(jobId, set)
      this.followed?.(jobId)
    }
    const sub: Subscription = new Subscription(() => {
      set.delete(sub)
      if (set.size === 0) this.subs.delete(jobId)
    })
    set.add(sub)
    return sub
  }

  /** Sends an event that happened here to everyone following the job, here and elsewhere. */
  publish(jobId: string, event: JobEvent): void {
    this.deliver(jobId, event)
    this.relay?.(jobId, event)
  }

  /** Sends an event to this coordinator's followers of the job only. */
  deliver(jobId: string, event: JobEvent): void {
    for (const sub of this.subs.get(jobId) ?? []) sub.push(event)
  }

  /**
   * Makes every follower read its job again from the store (as an end does): after the channel
   * between coordinators was down, events from elsewhere may have been missed.
   */
  resyncAll(): void {
    for (const set of this.subs.values()) for (const sub of set) sub.push({ type: 'end' })
  }

  /** How many clients follow any job (for tests and health). */
  get followers(): number {
    let n = 0
    for (const set of this.subs.values()) n += set.size
    return n
  }
}

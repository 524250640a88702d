import { z } from 'zod'
import { randomUUID } from 'node:crypto'
import { assertNever, describe } from '../errors'
import { LeaseRef } from '../protocol/worker'
import type { JobEvent, JobEvents } from './events'
import type { Hub } from './hub'
import type { WorkerLink } from './lifecycle'
import type { Bus } from './store'

/** Job ids in one queue message: 2 x 200 ids of 12 characters stay well inside a NOTIFY's 8,000 bytes. */
const QUEUE_BATCH = 200

/** Longest reason a relayed state event carries (4 bytes a character at most: well inside a NOTIFY). */
const MAX_REASON = 1000

/**
 * What one coordinator tells the others of its grid. Output travels as "stored up to seq" only
 * (a follower elsewhere reads the chunks from the database), so every message stays small.
 */
const GridMessage = z.discriminatedUnion('t', [
  // Jobs that entered the queue here (submitted, requeued) and that left it here (assigned).
  z.object({
    t: z.literal('queue'),
    from: z.string(),
    queued: z.array(z.string().max(64)).max(QUEUE_BATCH),
    taken: z.array(z.string().max(64)).max(QUEUE_BATCH),
  }),
  z.object({
    t: z.literal('job'),
    from: z.string(),
    jobId: z.string().max(64),
    event: z.discriminatedUnion('type', [
      z.object({ type: z.literal('stored'), attempt: z.int(), seq: z.int() }),
      z.object({
        type: z.literal('state'),
        state: z.enum(['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled']),
        attempt: z.int(),
        worker: z.string().max(256).nullable(),
        reason: z.string().max(MAX_REASON).optional(),
      }),
      z.object({ type: z.literal('end') }),
    ]),
  }),
  z.object({
    t: z.literal('cancel'),
    from: z.string(),
    workerId: z.string().max(128),
    lease: LeaseRef,
    reason: z.string().max(500),
  }),
  z.object({
    t: z.literal('release'),
    from: z.string(),
    workerId: z.string().max(128),
    jobId: z.string().max(64),
  }),
  z.object({ t: z.literal('connected'), from: z.string(), workerId: z.string().max(128) }),
])
type GridMessage = z.infer<typeof GridMessage>

/** Most often one coordinator tells the others of changes to the queue (and of stored output). */
const WAKE_EVERY_MS = 20

/**
 * This coordinator's part in the grid: it relays what others must act on (new work to place,
 * a job's events for its followers elsewhere, a cancel or release for a worker connected
 * elsewhere) and acts on what they relay. On SQLite the bus carries nothing and this is inert.
 */
export class Grid implements WorkerLink {
  /** Tells this coordinator's messages from the others' (every coordinator hears its own too). */
  readonly id = randomUUID()
  private queuePending = false
  private readonly queuedHere: string[] = []
  private readonly takenHere: string[] = []
  /** The newest chunk stored here of each job with output not yet told. */
  private readonly stored = new Map<string, { type: 'stored'; attempt: number; seq: number }>()
  private storedTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly bus: Bus,
    private readonly hub: Hub,
    private readonly events: JobEvents,
    /** Jobs another coordinator queued (to read and index) and took (to drop from the index). */
    private readonly queueChanged: (queued: string[], taken: string[]) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts listening; `resync` also runs after the channel was down (messages may be lost). */
  async start(resync: () => void): Promise<void> {
    await this.bus.subscribe(
      (text) => this.receive(text),
      () => {
        this.log('the channel between coordinators is back; catching up from the database')
        resync()
      },
    )
  }

  /** A job entered the queue here: the others index it (and place it, if their workers can). */
  queued(jobId: string): void {
    this.queuedHere.push(jobId)
    this.flushSoon()
  }

  /** Jobs were assigned here: the others drop them from their indexes. */
  taken(jobIds: readonly string[]): void {
    this.takenHere.push(...jobIds)
    this.flushSoon()
  }

  /** Tells the queue's changes at most every few milliseconds, in messages of at most QUEUE_BATCH ids each. */
  private flushSoon(): void {
    if (this.queuePending || !this.bus.shared) {
      if (!this.bus.shared) this.queuedHere.length = this.takenHere.length = 0
      return
    }
    this.queuePending = true
    setTimeout(() => {
      this.queuePending = false
      while (this.queuedHere.length > 0 || this.takenHere.length > 0) {
        const queued = this.queuedHere.splice(0, QUEUE_BATCH)
        const taken = this.takenHere.splice(0, QUEUE_BATCH)
        this.tell({ t: 'queue', from: this.id, queued, taken })
      }
    }, WAKE_EVERY_MS)
  }

  /**
   * A job event from this coordinator: its followers elsewhere hear of it. Output is told as
   * "stored up to seq", at most once per job every few milliseconds; an end is told at once, and
   * a follower that hears it reads whatever is stored, so nothing said later is missed.
   */
  relay(jobId: string, event: JobEvent): void {
    if (event.type === 'state' && event.reason !== undefined && event.reason.length > MAX_REASON) {
      // The schema the others read it with (and NOTIFY's payload) bound it: cut, not dropped.
      event = { ...event, reason: `${event.reason.slice(0, MAX_REASON - 3)}...` }
    }
    if (event.type !== 'output') return this.tell({ t: 'job', from: this.id, jobId, event })
    this.stored.set(jobId, { type: 'stored', attempt: event.attempt, seq: event.seq })
    if (this.storedTimer) return
    this.storedTimer = setTimeout(() => {
      this.storedTimer = undefined
      const batch = [...this.stored]
      this.stored.clear()
      for (const [id, e] of batch) this.tell({ t: 'job', from: this.id, jobId: id, event: e })
    }, WAKE_EVERY_MS)
  }

  /** Sends to a worker, here or (through the grid) wherever it is connected. */
  send(workerId: string, msg: { type: 'job.cancel'; lease: LeaseRef; reason: string }): boolean {
    if (this.hub.send(workerId, msg)) return true
    this.tell({ t: 'cancel', from: this.id, workerId, lease: msg.lease, reason: msg.reason })
    return false
  }

  /** A worker said hello here: a socket of it another coordinator still holds is stale. */
  connected(workerId: string): void {
    this.tell({ t: 'connected', from: this.id, workerId })
  }

  /** Forgets a lease on the worker's live connection, here or elsewhere. */
  release(workerId: string | null, jobId: string): void {
    if (!workerId) return
    if (this.hub.has(workerId)) return this.hub.release(workerId, jobId)
    this.tell({ t: 'release', from: this.id, workerId, jobId })
  }

  private tell(msg: GridMessage): void {
    this.bus.publish(JSON.stringify(msg)).catch((err: unknown) => {
      // The rows are the truth: a lost message only delays an effect (the next pass or sweep does it).
      this.log(`could not tell the other coordinators (${msg.t}): ${describe(err)}`)
    })
  }

  private receive(text: string): void {
    let parsed: GridMessage
    try {
      const r = GridMessage.safeParse(JSON.parse(text))
      if (!r.success) return
      parsed = r.data
    } catch {
      return
    }
    if (parsed.from === this.id) return
    switch (parsed.t) {
      case 'queue':
        return this.queueChanged(parsed.queued, parsed.taken)
      case 'job':
        return this.events.deliver(parsed.jobId, parsed.event)
      case 'cancel':
        this.hub.send(parsed.workerId, { type: 'job.cancel', lease: parsed.lease, reason: parsed.reason })
        return
      case 'release':
        return this.hub.release(parsed.workerId, parsed.jobId)
      case 'connected':
        return this.hub.connectedElsewhere(parsed.workerId)
      default:
        return assertNever(parsed)
    }
  }
}

import { z } from 'zod'
import { randomUUID } from 'node:crypto'
import { assertNever, describe } from '../errors'
import { LeaseRef } from '../protocol/worker'
import type { JobEvent, JobEvents } from './events'
import type { Hub } from './hub'
import type { WorkerLink } from './lifecycle'
import type { Bus } from './store'

/** Most ids of each kind in one queue message (the bytes they take bound it first, see QUEUE_BYTES). */
const QUEUE_BATCH = 400

/** Bytes of ids in one queue message: with its framing, well inside a NOTIFY's 8,000. */
const QUEUE_BYTES = 6_000

/** Longest reason a relayed state event carries (4 bytes a character at most: well inside a NOTIFY). */
const MAX_REASON = 1000

/**
 * What one coordinator tells the others of its grid. Output travels as "stored up to seq" only
 * (a follower elsewhere reads the chunks from the database), so every message stays small.
 */
const GridMessage = z.discriminatedUnion('t', [
  // Jobs that entered the queue here (submitted, requeued), that left it here (assigned), that
  // ended here (their followers elsewhere read them again), and that a client follows here (their
  // other events are relayed from then on).
  z.object({
    t: z.literal('queue'),
    from: z.string(),
    queued: z.array(z.string().max(64)).max(QUEUE_BATCH),
    taken: z.array(z.string().max(64)).max(QUEUE_BATCH),
    ended: z.array(z.string().max(64)).max(QUEUE_BATCH).default([]),
    followed: z.array(z.string().max(64)).max(QUEUE_BATCH).default([]),
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

/** The lists a queue message carries, in the order a message is filled from them. */
const LISTS = ['queued', 'taken', 'ended', 'followed'] as const

/**
 * This coordinator's part in the grid: it relays what others must act on (new work to place,
 * a job's events for its followers elsewhere, a cancel or release for a worker connected
 * elsewhere) and acts on what they relay. On SQLite the bus carries nothing and this is inert.
 *
 * A job's end always reaches the others (batched with the queue's changes); its other events
 * (assigned, running, output stored, requeued) only once a client follows it on another
 * coordinator: most jobs are followed, if at all, where they were submitted, and with one
 * NOTIFY per event the database's notification queue was a good part of a job's cost.
 */
export class Grid implements WorkerLink {
  /** Tells this coordinator's messages from the others' (every coordinator hears its own too). */
  readonly id = randomUUID()
  private queuePending = false
  /** Ids to tell in the next queue messages, by list. */
  private readonly pending = {
    queued: [] as string[],
    taken: [] as string[],
    ended: [] as string[],
    followed: [] as string[],
  }
  /** Jobs a client follows on another coordinator (until they end): their events are relayed. */
  private readonly followedElsewhere = new Set<string>()
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
    this.pending.queued.push(jobId)
    this.flushSoon()
  }

  /** Jobs were assigned here: the others drop them from their indexes. */
  taken(jobIds: readonly string[]): void {
    this.pending.taken.push(...jobIds)
    this.flushSoon()
  }

  /** A client follows a job here: the coordinator where it runs relays its events from now on. */
  follow(jobId: string): void {
    this.pending.followed.push(jobId)
    this.flushSoon()
  }

  /** Tells the queue's changes at most every few milliseconds, in messages of at most QUEUE_BYTES of ids each. */
  private flushSoon(): void {
    if (this.queuePending || !this.bus.shared) {
      if (!this.bus.shared) for (const k of LISTS) this.pending[k].length = 0
      return
    }
    this.queuePending = true
    setTimeout(() => {
      this.queuePending = false
      while (LISTS.some((k) => this.pending[k].length > 0)) {
        const msg = {
          t: 'queue' as const,
          from: this.id,
          queued: [] as string[],
          taken: [] as string[],
          ended: [] as string[],
          followed: [] as string[],
        }
        let bytes = 0
        for (const k of LISTS) {
          const from = this.pending[k]
          let n = 0
          // Each id takes its length plus quotes and a comma.
          while (n < from.length && n < QUEUE_BATCH && bytes + from[n]!.length + 3 <= QUEUE_BYTES)
            bytes += from[n++]!.length + 3
          msg[k] = from.splice(0, n)
        }
        this.tell(msg)
      }
    }, WAKE_EVERY_MS)
  }

  /**
   * A job event from this coordinator: its followers elsewhere hear of it. An end goes with the
   * queue's next changes (a follower that hears it reads the job and whatever output is stored,
   * so nothing said before is missed); the other events only for a job followed elsewhere (one
   * heard of before it was followed is missed: the end still comes). Output is told as "stored
   * up to seq", at most once per job every few milliseconds.
   */
  relay(jobId: string, event: JobEvent): void {
    if (event.type === 'end') {
      this.followedElsewhere.delete(jobId)
      this.pending.ended.push(jobId)
      return this.flushSoon()
    }
    if (!this.followedElsewhere.has(jobId)) return
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
      const raw: unknown = JSON.parse(text)
      // Its own messages come back too (the listening connection is another session): with one
      // coordinator, all of them. They are dropped before the schema check, most of what one cost.
      if ((raw as { from?: unknown } | null)?.from === this.id) return
      const r = GridMessage.safeParse(raw)
      if (!r.success) return
      parsed = r.data
    } catch {
      return
    }
    switch (parsed.t) {
      case 'queue':
        for (const id of parsed.followed) this.followedElsewhere.add(id)
        for (const id of parsed.ended) {
          this.followedElsewhere.delete(id)
          this.events.deliver(id, { type: 'end' })
        }
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

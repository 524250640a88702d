import { type CoordinatorMessage, type LeaseRef } from '../protocol/worker'
import { ReceiptBody } from '../protocol/receipt'
import { type HeartbeatBudget, jittered, leaseFor, nextInterval, silenceFor } from './heartbeat-budget'
import type { Clock, Settings } from './settings'
import type { Store } from './store'
import type { WorkerConn } from './worker-conn'

const key = (l: LeaseRef) => `${l.jobId}#${l.attempt}`

/**
 * The workers' heartbeats: the interval each is told (under the grid's heartbeat budget), the
 * timeouts that follow from it, and what a beat does. An idle worker's beat touches no database;
 * a busy one's renews its leases in one statement, and reads more only when what it lists and
 * what this coordinator believes it holds differ.
 */
export class Heartbeats {
  /** The interval the grid's workers were last told (each with its own jitter above the floor). */
  private baseMs: number
  readonly budget: HeartbeatBudget

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: Settings,
  ) {
    this.baseMs = settings.heartbeatMs
    this.budget = {
      perSecond: settings.heartbeatsPerSecond,
      floorMs: settings.heartbeatMs,
      ceilingMs: Math.max(settings.heartbeatMs, settings.maxHeartbeatMs),
    }
  }

  /** The base interval workers are told now (tests and logs). */
  get intervalMs(): number {
    return this.baseMs
  }

  /** The interval to tell a worker now (in its welcome). */
  toTell(): number {
    return jittered(this.baseMs, this.budget)
  }

  /**
   * The number of connected workers changed: when the budget calls for another interval, every
   * worker that follows intervals is told its own (old workers keep theirs, and their timeouts).
   */
  resize(conns: Iterable<WorkerConn>, workers: number): void {
    const next = nextInterval(this.baseMs, workers, this.budget)
    if (next === undefined) return
    this.baseMs = next
    for (const conn of conns) {
      if (!conn.followsIntervals) continue
      const ms = jittered(next, this.budget)
      conn.toldMs = ms
      // Until it next beats it may still be on the longer one it had.
      conn.beatMs = Math.max(conn.beatMs, ms)
      const msg: CoordinatorMessage = { type: 'heartbeat.interval', heartbeatMs: ms }
      conn.socket.send(JSON.stringify(msg))
    }
  }

  /** How long this worker may stay silent before its socket is closed. */
  silenceOf(conn: WorkerConn): number {
    return silenceFor(conn.beatMs, this.settings)
  }

  /**
   * Reconciles what the worker says it runs (and awaits acks for) with what it holds: renews its
   * leases, fences off what it runs without holding, and acknowledges again a result already settled.
   */
  async beat(conn: WorkerConn, running: LeaseRef[], send: (msg: CoordinatorMessage) => void): Promise<void> {
    const now = this.clock.now()
    conn.lastBeat = now
    // A beat since its last interval was told: it beats at that one now.
    conn.beatMs = conn.toldMs
    if (running.length === 0 && conn.active.size === 0) return
    const renewed = await this.store.leases.renew(
      conn.id,
      running,
      now + leaseFor(conn.beatMs, this.settings),
    )
    const kept = new Set(renewed.map(key))
    const stale = running.filter((l) => !kept.has(key(l)))
    const renewedJobs = new Set(renewed.map((l) => l.jobId))
    if (stale.length === 0 && [...conn.active].every((id) => renewedJobs.has(id))) return
    // It lists what it does not hold, or holds (here) what it does not list: the store says which.
    const held = await this.store.leases.leasesOf(conn.id)
    conn.active = new Set(held.map((l) => l.jobId))
    for (const lease of stale) {
      if (await this.settledBy(conn.id, lease)) {
        // Its result was taken and the ack is on its way or lost: acknowledged again, not cancelled.
        send({ type: 'job.ack', lease })
      } else {
        // It runs something it no longer holds (expired, cancelled, never its): fenced off.
        send({ type: 'job.cancel', lease, reason: 'lease no longer valid' })
      }
    }
  }

  /** Whether the attempt ended with a result this worker signed (recorded, so it is settled). */
  private async settledBy(workerId: string, lease: LeaseRef): Promise<boolean> {
    const receipt = await this.store.leases.recordedReceipt(lease)
    if (!receipt) return false
    let body: unknown
    try {
      body = JSON.parse(receipt.body)
    } catch {
      return false
    }
    const parsed = ReceiptBody.safeParse(body)
    return parsed.success && parsed.data.workerId === workerId
  }
}

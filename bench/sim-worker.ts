// A simulated worker for the dispatch bench: a real WebSocket client speaking the worker protocol
// that "runs" every job it is given in no time (job.started, then a signed job.result at once),
// so what the bench measures is the coordinators' and the database's cost per job, not Docker's.
// Results are signed natively (sim-sign.ts), so the workers stay cheap next to the coordinator.
import {
  type CoordinatorMessage,
  type LeaseRef,
  PROTOCOL_VERSION,
  type WorkerMessage,
} from '../src/protocol/worker'
import { type JobResult, testWorker } from '../test/support/worker-keys'
import { type NativeWorker, nativeSignedResult, withNativeKey } from './sim-sign'

/** How soon a result refused for now (`retry`) is sent again; the real agent waits 10 s. */
const RESEND_MS = 1_000

/** What the bench learns from a simulated worker, stamped with `performance.now()`. */
export interface SimEvents {
  /** A job.assign arrived (on the connection to coordinator `at`, an index into the address list). */
  assigned(jobId: string, at: number, worker: SimWorker, attempt: number): void
  /** A result was acknowledged. */
  acked(jobId: string, worker: SimWorker): void
}

/** A simulated worker: its id and key, its coordinators (moves to the next when one closes). */
export class SimWorker {
  readonly key: NativeWorker
  /** Index into `urls` of the coordinator in use. */
  at: number
  /** Results not acknowledged yet, by lease key: resent after every welcome. */
  private readonly unacked = new Map<string, JobResult>()
  private ws: WebSocket | undefined
  private beat: ReturnType<typeof setInterval> | undefined
  private stopped = false
  /** Results refused for now (the coordinator's check budget) and sent again. */
  refusedForNow = 0
  /** Results refused for good (should stay 0). */
  refusedForGood: string[] = []
  /** Connections that ended while the worker was not stopping. */
  reconnects = 0

  constructor(
    readonly name: string,
    private readonly urls: string[],
    private readonly token: string,
    readonly slots: number,
    private readonly events: SimEvents,
    first = 0,
  ) {
    // A worker id must be 8..64 of [a-zA-Z0-9_-].
    this.key = withNativeKey(testWorker(`sim-${name}-${crypto.randomUUID().slice(0, 8)}`))
    this.at = first % urls.length
  }

  /** Connects (to the current coordinator) and resolves at the welcome. */
  start(): Promise<void> {
    return new Promise((resolve) => this.connect(resolve))
  }

  private connect(welcomed?: () => void): void {
    const ws = new WebSocket(this.urls[this.at]!, { headers: { authorization: `Bearer ${this.token}` } })
    this.ws = ws
    ws.onopen = () => this.send(this.hello())
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data)) as CoordinatorMessage
      if (msg.type === 'welcome') {
        for (const r of this.unacked.values()) this.send(r)
        clearInterval(this.beat)
        this.beat = setInterval(
          () => this.send({ type: 'heartbeat', running: this.leases() }),
          msg.heartbeatMs,
        )
        welcomed?.()
        welcomed = undefined
        return
      }
      this.onMessage(msg)
    }
    ws.onclose = () => {
      clearInterval(this.beat)
      if (this.stopped || this.ws !== ws) return
      // Like the real agent: on to the next coordinator of the list, at once in the first round.
      this.reconnects++
      this.at = (this.at + 1) % this.urls.length
      setTimeout(() => this.connect(welcomed), Math.round(Math.random() * 100))
    }
  }

  private onMessage(msg: CoordinatorMessage): void {
    switch (msg.type) {
      case 'job.assign': {
        const lease = { jobId: msg.job.jobId, attempt: msg.job.attempt }
        this.events.assigned(lease.jobId, this.at, this, lease.attempt)
        this.send({ type: 'job.started', lease })
        const result = nativeSignedResult(this.key, lease, { durationMs: 1 })
        this.unacked.set(keyOf(lease), result)
        this.send(result)
        return
      }
      case 'job.ack':
        if (this.unacked.delete(keyOf(msg.lease))) this.events.acked(msg.lease.jobId, this)
        return
      case 'job.refused': {
        const kept = this.unacked.get(keyOf(msg.lease))
        if (!kept) return
        if (!msg.retry) {
          this.unacked.delete(keyOf(msg.lease))
          this.refusedForGood.push(`${msg.lease.jobId}: ${msg.code}: ${msg.message}`)
          return
        }
        this.refusedForNow++
        setTimeout(() => {
          if (this.unacked.has(keyOf(msg.lease))) this.send(kept)
        }, RESEND_MS)
        return
      }
      case 'job.cancel':
      case 'error':
      case 'welcome':
      // Not asked for (the hello does not say heartbeatUpdates): the welcome's interval stays.
      case 'heartbeat.interval':
        return
    }
  }

  private hello(): WorkerMessage {
    return {
      type: 'hello',
      v: PROTOCOL_VERSION,
      workerId: this.key.id,
      name: this.name,
      version: 'bench',
      slots: this.slots,
      cpus: 64,
      memoryBytes: 256 * 1024 ** 3,
      docker: 'none (simulated)',
      publicKey: this.key.key.publicKey,
      running: this.leases(),
      policy: { maxTimeoutMs: null, images: ['*'], workdirBytes: null },
    }
  }

  private leases(): LeaseRef[] {
    return [...this.unacked.values()].map((r) => r.lease)
  }

  private send(msg: WorkerMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg))
  }

  /** Closes the socket for good. */
  stop(): void {
    this.stopped = true
    clearInterval(this.beat)
    this.ws?.close()
  }
}

function keyOf(l: LeaseRef): string {
  return `${l.jobId}#${l.attempt}`
}

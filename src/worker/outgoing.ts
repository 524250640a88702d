import type { WorkerMessage } from '../protocol/worker'
import { type Pace, Pacer } from './pacer'

/** Reports that can wait for the coordinator while it is away (results are kept apart, until acknowledged). */
type Report = Extract<WorkerMessage, { type: 'job.started' | 'job.output' }>

/** Output kept while disconnected, at most. */
const OUTBOX_BYTES = 16 * 1024 * 1024

/**
 * What goes out to the coordinator: paced on a welcomed socket (`Pacer`), kept in a bounded
 * outbox while there is none. Heartbeats, drain and hand-backs are few and keep leases right,
 * so they go ahead of waiting output; starts and results go ahead of other jobs' output, since
 * the coordinator enforces deadlines by them.
 */
export class Outgoing {
  private pacer: Pacer | undefined
  /** Reports made while disconnected, sent in order once welcomed again. */
  private outbox: Report[] = []
  private outboxBytes = 0

  constructor(private readonly write: (text: string) => void) {}

  /** The coordinator welcomed a socket: a fresh pace for it; what was kept while away goes first. */
  open(budget: Pace): void {
    this.pacer = new Pacer(this.write, budget)
    const kept = this.outbox
    this.outbox = []
    this.outboxBytes = 0
    for (const m of kept) {
      if (m.type === 'job.started') this.pacer.ahead(m)
      else this.pacer.send(m)
    }
  }

  /** Sends on the welcomed socket; false when there is none. */
  send(msg: WorkerMessage): boolean {
    if (!this.pacer) return false
    if (msg.type === 'heartbeat' || msg.type === 'drain' || msg.type === 'job.release') this.pacer.urgent(msg)
    else if (msg.type === 'job.started' || msg.type === 'job.result') this.pacer.ahead(msg)
    else this.pacer.send(msg)
    return true
  }

  /** Keeps a report for the next socket, as long as the outbox has room (seq numbers make resending safe). */
  keep(msg: Report): void {
    const size = msg.type === 'job.output' ? msg.dataBase64.length : 100
    if (this.outboxBytes + size > OUTBOX_BYTES) return
    this.outbox.push(msg)
    this.outboxBytes += size
  }

  /** The socket closed: what the pacer had not sent yet is kept, ahead of anything reported since. */
  close(): void {
    const waiting = this.pacer?.takeWaiting() ?? []
    this.pacer = undefined
    const later = this.outbox
    this.outbox = []
    this.outboxBytes = 0
    for (const m of waiting) if (m.type === 'job.output' || m.type === 'job.started') this.keep(m)
    for (const m of later) this.keep(m)
  }
}

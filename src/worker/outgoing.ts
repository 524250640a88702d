import type { WorkerMessage } from '../protocol/worker'
import { type Pace, Pacer } from './pacer'

/** Reports that can wait for the coordinator while it is away (results are kept apart, until acknowledged). */
type Report = Extract<WorkerMessage, { type: 'job.started' | 'job.output' }>

/** Output kept while disconnected, at most. */
const OUTBOX_BYTES = 16 * 1024 * 1024

type Output = Extract<WorkerMessage, { type: 'job.output' }>

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
  /**
   * Output written on this socket that the coordinator may not have stored: a socket that dies
   * (a coordinator killed, a proxy gone) loses what was in flight, and no message acknowledges
   * output. Each chunk is marked with the pings sent before it; the pong of the ping after it
   * says it was read, and one more pong that it had time to be stored. What is left when the
   * socket closes is sent again on the next one, wherever it leads: the coordinator stores a
   * chunk by (job, attempt, seq) once, so a chunk it already has is dropped there.
   */
  private unconfirmed: { msg: Output; mark: number }[] = []
  private unconfirmedBytes = 0
  private pings = 0
  private pongs = 0

  constructor(private readonly write: (text: string) => void) {}

  /** A ping went out on the socket (after whatever was written before it). */
  pinged(): void {
    this.pings++
  }

  /** A pong came back: output written two pings ago or earlier has arrived and is forgotten. */
  ponged(): void {
    this.pongs++
    const keepFrom = this.unconfirmed.findIndex((u) => u.mark > this.pongs - 2)
    const gone = keepFrom < 0 ? this.unconfirmed.splice(0) : this.unconfirmed.splice(0, keepFrom)
    for (const g of gone) this.unconfirmedBytes -= g.msg.dataBase64.length
  }

  private written(text: string, msg: WorkerMessage): void {
    this.write(text)
    if (msg.type !== 'job.output') return
    this.unconfirmed.push({ msg, mark: this.pings })
    this.unconfirmedBytes += msg.dataBase64.length
    // Bounded: past the outbox's size the oldest (surely arrived by then) are forgotten.
    while (this.unconfirmedBytes > OUTBOX_BYTES && this.unconfirmed.length > 0)
      this.unconfirmedBytes -= this.unconfirmed.shift()!.msg.dataBase64.length
  }

  /** Output chunks written on this socket and not yet confirmed (tests and logs). */
  get inFlight(): number {
    return this.unconfirmed.length
  }

  /** The coordinator welcomed a socket: a fresh pace for it; what was kept while away goes first. */
  open(budget: Pace): void {
    this.pings = this.pongs = 0
    this.pacer = new Pacer((text, msg) => this.written(text, msg), budget)
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

  /**
   * The socket closed: output it may have lost and what the pacer had not sent yet are kept, in
   * that order, ahead of anything reported since.
   */
  close(): void {
    const waiting = this.pacer?.takeWaiting() ?? []
    this.pacer = undefined
    const later = this.outbox
    this.outbox = []
    this.outboxBytes = 0
    const lost = this.unconfirmed.splice(0)
    this.unconfirmedBytes = 0
    for (const u of lost) this.keep(u.msg)
    for (const m of waiting) if (m.type === 'job.output' || m.type === 'job.started') this.keep(m)
    for (const m of later) this.keep(m)
  }
}

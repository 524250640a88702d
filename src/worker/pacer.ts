import type { WorkerMessage } from '../protocol/worker'
import { WORKER_PACE } from '../protocol/worker-limits'

/** A rate the pacer keeps to: messages and bytes a second. */
export interface Pace {
  messagesPerSecond: number
  bytesPerSecond: number
}

/**
 * Sends one socket's messages in order, no faster than `WORKER_PACE` of the coordinator's budget
 * for the socket (which closes a socket that goes past it): however much its jobs print, an
 * honest worker stays well inside. Each bucket holds one second's worth; what does not fit
 * waits, in order, and goes as the buckets refill.
 */
export class Pacer {
  private readonly queue: { msg: WorkerMessage; text: string }[] = []
  /** How many messages at the head of the queue were moved there by `ahead`. */
  private promoted = 0
  private messages: number
  private bytes: number
  private at = performance.now()
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly rate: Pace

  constructor(
    private readonly write: (text: string, msg: WorkerMessage) => void,
    budget: Pace,
  ) {
    this.rate = {
      messagesPerSecond: budget.messagesPerSecond * WORKER_PACE,
      bytesPerSecond: budget.bytesPerSecond * WORKER_PACE,
    }
    this.messages = this.rate.messagesPerSecond
    this.bytes = this.rate.bytesPerSecond
  }

  /** Sends a message after those already waiting. */
  send(msg: WorkerMessage): void {
    this.queue.push({ msg, text: JSON.stringify(msg) })
    this.pump()
  }

  /**
   * Sends a job's start or result ahead of the output of other jobs waiting (their deadlines run
   * on the coordinator; a result stuck behind a long backlog would miss it), but after this job's
   * own waiting output, which must be stored before the job ends. It still keeps to the pace.
   */
  ahead(msg: Extract<WorkerMessage, { type: 'job.started' | 'job.result' }>): void {
    const same = (m: WorkerMessage) =>
      m.type === 'job.output' && m.lease.jobId === msg.lease.jobId && m.lease.attempt === msg.lease.attempt
    const rest = this.queue.splice(this.promoted)
    const own = rest.filter((q) => same(q.msg))
    const others = rest.filter((q) => !same(q.msg))
    this.queue.push(...own, { msg, text: JSON.stringify(msg) }, ...others)
    this.promoted += own.length + 1
    this.pump()
  }

  /**
   * Sends a message now, ahead of any waiting (heartbeats: they keep the leases alive). It still
   * counts against the buckets.
   */
  urgent(msg: WorkerMessage): void {
    const text = JSON.stringify(msg)
    this.refill()
    this.messages -= 1
    this.bytes -= text.length
    this.write(text, msg)
  }

  /** Messages not sent yet, in order; the pacer is left empty and stopped (its socket closed). */
  takeWaiting(): WorkerMessage[] {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.promoted = 0
    return this.queue.splice(0).map((q) => q.msg)
  }

  /** Messages waiting to be sent. */
  get waiting(): number {
    return this.queue.length
  }

  private refill(): void {
    const now = performance.now()
    const s = (now - this.at) / 1000
    this.at = now
    this.messages = Math.min(this.rate.messagesPerSecond, this.messages + s * this.rate.messagesPerSecond)
    this.bytes = Math.min(this.rate.bytesPerSecond, this.bytes + s * this.rate.bytesPerSecond)
  }

  private pump(): void {
    if (this.timer) return
    this.refill()
    let sent = 0
    while (sent < this.queue.length) {
      const { text, msg } = this.queue[sent]!
      // A message larger than a full bucket goes once the bucket is full (it would never fit).
      const fits = this.bytes >= Math.min(text.length, this.rate.bytesPerSecond)
      if (this.messages < 1 || !fits) break
      this.messages -= 1
      this.bytes -= text.length
      this.write(text, msg)
      sent++
    }
    this.queue.splice(0, sent)
    this.promoted = Math.max(0, this.promoted - sent)
    const next = this.queue[0]
    if (!next) return
    const needMessages = Math.max(0, 1 - this.messages) / this.rate.messagesPerSecond
    const needBytes =
      Math.max(0, Math.min(next.text.length, this.rate.bytesPerSecond) - this.bytes) /
      this.rate.bytesPerSecond
    const waitMs = Math.max(1, Math.ceil(1000 * Math.max(needMessages, needBytes)))
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.pump()
    }, waitMs)
  }
}

import { OUTPUT_CHUNK_BYTES } from '../protocol/worker-limits'

/** Output waits at most this long to be sent while few jobs run... */
const FLUSH_MS = 25
/** ...and never longer than this, however many run. */
const MAX_FLUSH_MS = 1000

/**
 * How long a job's output may wait to be sent while `running` jobs run: 25 ms for up to four,
 * wider as more run (so that a worker's messages stay few: two per job per window at most),
 * 1 s at most.
 */
export function flushWindowMs(running: number): number {
  return Math.min(MAX_FLUSH_MS, FLUSH_MS * Math.max(1, Math.ceil(running / 4)))
}

type Stream = 'stdout' | 'stderr'

/**
 * Coalesces a job's output into ordered, numbered chunks of at most `OUTPUT_CHUNK_BYTES`: few
 * messages, still live. Each stream keeps its order; what a job writes to stdout and stderr
 * within one window goes as one chunk per stream (the stream written first goes first), so a
 * job that alternates streams cannot turn every write into a message.
 */
export class OutputBatcher {
  private seq = 0
  /** Pending output per stream, in the order the streams were first written (a Map keeps it). */
  private readonly pending = new Map<Stream, Buffer[]>()
  private bytes = 0
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly send: (stream: Stream, seq: number, data: Buffer) => void,
    private readonly windowMs: () => number = () => FLUSH_MS,
  ) {}

  /** Adds output; a full chunk, or the end of the window, sends what is pending. */
  push(stream: Stream, data: Buffer): void {
    if (data.length === 0) return
    const parts = this.pending.get(stream) ?? []
    if (parts.length === 0) this.pending.set(stream, parts)
    parts.push(Buffer.from(data))
    this.bytes += data.length
    if (this.bytes >= OUTPUT_CHUNK_BYTES) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), this.windowMs())
  }

  /** Sends whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    for (const [stream, parts] of this.pending) {
      const all = Buffer.concat(parts)
      for (let at = 0; at < all.length; at += OUTPUT_CHUNK_BYTES) {
        this.send(stream, this.seq++, all.subarray(at, at + OUTPUT_CHUNK_BYTES))
      }
    }
    this.pending.clear()
    this.bytes = 0
  }
}

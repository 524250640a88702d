/** Output is sent in chunks of at most this many bytes, or after this long, whichever comes first. */
const CHUNK_BYTES = 64 * 1024
const FLUSH_MS = 25

/** Coalesces a job's output into ordered, numbered chunks: few messages, still live. */
export class OutputBatcher {
  private seq = 0
  private pending: { stream: 'stdout' | 'stderr'; parts: Buffer[]; bytes: number } | undefined
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly send: (stream: 'stdout' | 'stderr', seq: number, data: Buffer) => void) {}

  /** Adds output; a change of stream, a full chunk or a short quiet spell sends what is pending. */
  push(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.pending && this.pending.stream !== stream) this.flush()
    this.pending ??= { stream, parts: [], bytes: 0 }
    this.pending.parts.push(Buffer.from(data))
    this.pending.bytes += data.length
    if (this.pending.bytes >= CHUNK_BYTES) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  /** Sends whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.pending) return
    const { stream, parts } = this.pending
    this.pending = undefined
    this.send(stream, this.seq++, Buffer.concat(parts))
  }
}

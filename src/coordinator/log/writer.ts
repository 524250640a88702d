/**
 * Where finished chunks of log lines go. A returned promise means the chunk is still being written
 * (a full pipe): nothing more is sent until it settles; a rejection (EPIPE) ends the log.
 */
export type LogTarget = (chunk: string) => void | Promise<unknown>

/** Tuning of a LogWriter; the defaults suit a coordinator at full dispatch. */
export interface WriterOptions {
  /** Lines wait at most this long before they are written (one write for all of them). */
  flushMs?: number
  /** Written at once when this many bytes are waiting. */
  flushBytes?: number
  /** Past this many bytes waiting behind a write that has not finished, new lines are dropped (and counted). */
  maxBacklogBytes?: number
  /** The line saying how many were dropped, written once the target takes lines again. */
  droppedLine?: (count: number) => string
}

/**
 * Log lines buffered in memory and written in chunks: one write per `flushMs` or `flushBytes`,
 * never a syscall per line. A reader that does not keep up (a slow or stopped pipe) never blocks
 * the coordinator: lines wait in a bounded backlog, and past it are dropped and counted.
 */
export class LogWriter {
  private lines: string[] = []
  private bytes = 0
  private dropped = 0
  private writing: Promise<unknown> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private dead = false
  private readonly flushMs: number
  private readonly flushBytes: number
  private readonly maxBacklogBytes: number

  constructor(
    private readonly target: LogTarget,
    private readonly opts: WriterOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 50
    this.flushBytes = opts.flushBytes ?? 64 * 1024
    this.maxBacklogBytes = opts.maxBacklogBytes ?? 16 * 1024 * 1024
  }

  /** Lines dropped so far because the reader fell behind (for tests and the dropped note). */
  get droppedLines(): number {
    return this.dropped
  }

  /** Queues one line (without its newline). */
  write(line: string): void {
    if (this.dead) return
    if (this.bytes > this.maxBacklogBytes) {
      this.dropped++
      return
    }
    this.lines.push(line)
    this.bytes += line.length + 1
    if (this.bytes >= this.flushBytes) this.flush()
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.flushMs)
      this.timer.unref?.()
    }
  }

  /** Writes what is waiting now, unless a write is still under way (it flushes again when done). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.writing || this.dead || this.lines.length === 0) return
    if (this.dropped > 0 && this.opts.droppedLine) {
      this.lines.push(this.opts.droppedLine(this.dropped))
      this.dropped = 0
    }
    const chunk = this.lines.join('\n') + '\n'
    this.lines = []
    this.bytes = 0
    let pending: void | Promise<unknown>
    try {
      pending = this.target(chunk)
    } catch {
      this.dead = true
      return
    }
    if (!pending) return
    this.writing = pending.then(
      () => {
        this.writing = undefined
        if (this.lines.length > 0) this.flush()
      },
      () => {
        // The reader is gone (EPIPE): the coordinator keeps running without a log.
        this.writing = undefined
        this.dead = true
        this.lines = []
      },
    )
  }

  /** Writes everything waiting and waits for it, at most `ms` (a stopped reader must not hold up a stop). */
  async stop(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms
    this.flush()
    while (this.writing && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())))
      await Promise.race([this.writing, late])
      clearTimeout(timer)
      this.flush()
    }
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * The process's stdout through Bun's FileSink: non-blocking on pipes (a full pipe makes `flush`
 * return a promise instead of waiting), where a `writeSync(1)` would stall the event loop.
 */
export function stdoutTarget(): LogTarget {
  const sink = Bun.stdout.writer()
  return (chunk) => {
    const wrote = sink.write(chunk)
    const flushed = sink.flush()
    if (typeof wrote === 'number' && typeof flushed === 'number') return undefined
    return Promise.all([wrote, flushed])
  }
}

import { type Fields, formatter, type Level, type LogFormat, MESSAGE } from './format'
import { type LogTarget, LogWriter, stdoutTarget, type WriterOptions } from './writer'

/** How the coordinator's log is written (`gridx serve --log-format`, `--log-requests`). */
export interface LoggerOptions {
  format: LogFormat
  /** One `request` line per HTTP request (`--log-requests`). */
  requests?: boolean
  /** Where chunks of lines go; the process's stdout unless a test captures them. */
  target?: LogTarget
  /** The time of lines that carry none of their own. */
  now?: () => number
  writer?: Omit<WriterOptions, 'droppedLine'>
}

/**
 * The coordinator's log: structured events (`job`, `worker`, `refused`, `start`, `request`) and the
 * free-text lines every part writes through `message`. Lines are formatted only when written and
 * go out through a buffered writer that never blocks on a slow reader.
 */
export class Logger {
  readonly format: LogFormat
  /** True when every HTTP request gets a `request` line. */
  readonly requests: boolean
  private readonly line: ReturnType<typeof formatter>
  private readonly writer: LogWriter
  private readonly now: () => number

  constructor(opts: LoggerOptions) {
    this.format = opts.format
    this.requests = opts.requests ?? false
    this.line = formatter(opts.format)
    this.now = opts.now ?? Date.now
    this.writer = new LogWriter(opts.target ?? stdoutTarget(), {
      ...opts.writer,
      droppedLine: (count) =>
        this.line(this.now(), 'warn', 'log_dropped', {
          lines: count,
          msg: 'the log was not read fast enough (a slow or stopped pipe on stdout); these lines were dropped',
        }),
    })
  }

  /** Writes one event; `at` is when it happened (default now). */
  event(level: Level, event: string, fields: Fields, at?: number): void {
    this.writer.write(this.line(at ?? this.now(), level, event, fields))
  }

  /** A free-text line (event `message`, field `msg`): the `log(line)` every part of the coordinator is given. */
  readonly message = (msg: string): void => this.event('info', MESSAGE, { msg })

  /** Writes what is buffered now. */
  flush(): void {
    this.writer.flush()
  }

  /** Writes everything buffered and waits for it (bounded: a stopped reader does not hold up a stop). */
  stop(): Promise<void> {
    return this.writer.stop()
  }

  /** Lines dropped because the reader fell behind, not yet reported. */
  get droppedLines(): number {
    return this.writer.droppedLines
  }
}

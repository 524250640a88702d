import type { Subprocess } from 'bun'

/** The result of a command run to completion, with wall-clock timing. */
export interface Ran {
  code: number
  stdout: string
  stderr: string
  /** Epoch milliseconds when the process was spawned and when it had exited. */
  startedAt: number
  endedAt: number
  /** Wall time in milliseconds (high resolution). */
  ms: number
  /** CPU time of the process itself (user + system), milliseconds. */
  cpuMs: number
}

/** Options of `run`. */
export interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  stdin?: string
  timeoutMs?: number
}

/** Runs a command to completion, collecting its output; kills it after `timeoutMs`. */
export async function run(argv: string[], opts: RunOptions = {}): Promise<Ran> {
  const startedAt = Date.now()
  const t0 = performance.now()
  const proc = Bun.spawn(argv, {
    env: opts.env ?? baseEnv(),
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? 'ignore' : new Blob([opts.stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  const ms = performance.now() - t0
  const usage = proc.resourceUsage()
  const cpuMs = usage ? Number(usage.cpuTime.total) / 1000 : Number.NaN
  return { code, stdout, stderr, startedAt, endedAt: Date.now(), ms, cpuMs }
}

/** The environment every child starts from: PATH, plus Docker's address when one is set. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' }
  for (const k of ['DOCKER_HOST', 'HOME', 'TMPDIR']) {
    const v = process.env[k]
    if (v !== undefined) env[k] = v
  }
  return { ...env, ...extra }
}

/** One line a background process wrote, stamped when the bench read it. */
export interface LogLine {
  stream: 'stdout' | 'stderr'
  text: string
  at: number
}

/** A long-running child (coordinator, worker, docker events) whose output is kept line by line. */
export class Background {
  readonly lines: LogLine[] = []
  private readonly proc: Subprocess<'ignore', 'pipe', 'pipe'>
  private readonly pumps: Promise<void>[]

  constructor(
    readonly label: string,
    argv: string[],
    env: Record<string, string>,
  ) {
    this.proc = Bun.spawn(argv, { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
    this.pumps = [this.pump(this.proc.stdout, 'stdout'), this.pump(this.proc.stderr, 'stderr')]
  }

  get pid(): number {
    return this.proc.pid
  }

  get exitCode(): number | null {
    return this.proc.exitCode
  }

  private async pump(stream: ReadableStream<Uint8Array>, name: LogLine['stream']): Promise<void> {
    const dec = new TextDecoder()
    let rest = ''
    for await (const chunk of stream) {
      rest += dec.decode(chunk, { stream: true })
      const parts = rest.split('\n')
      rest = parts.pop() ?? ''
      const at = Date.now()
      for (const text of parts) this.lines.push({ stream: name, text, at })
    }
    if (rest) this.lines.push({ stream: name, text: rest, at: Date.now() })
  }

  /** Everything written so far, both streams interleaved in arrival order. */
  text(): string {
    return this.lines.map((l) => l.text).join('\n')
  }

  /** Waits for a line matching `re`; fails when the process exits or `ms` passes first. */
  async waitFor(re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms
    for (;;) {
      for (const l of this.lines) {
        const m = re.exec(l.text)
        if (m) return m
      }
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        const why = this.proc.exitCode !== null ? `it exited with ${this.proc.exitCode}` : `${ms} ms passed`
        throw new Error(`${this.label}: no line matching ${re} (${why}); its output:\n${this.text()}`)
      }
      await Bun.sleep(20)
    }
  }

  /** Sends `signal` now (the dispatch bench's failover kills a coordinator with SIGKILL); waits for nothing. */
  kill(signal: 'SIGKILL' | 'SIGTERM'): void {
    this.proc.kill(signal)
  }

  /** Sends SIGTERM (then SIGKILL after `graceMs`) and waits for the exit; returns the exit code. */
  async stop(graceMs = 10_000): Promise<number> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM')
      const timer = setTimeout(() => {
        console.error(`bench: ${this.label} (pid ${this.pid}) ignored SIGTERM for ${graceMs} ms; killing it`)
        this.proc.kill('SIGKILL')
      }, graceMs)
      await this.proc.exited
      clearTimeout(timer)
    }
    await Promise.all(this.pumps)
    return this.proc.exitCode ?? 128
  }
}

/** Runs `fn` over `items` with at most `limit` running at once; results keep the input order. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return results
}

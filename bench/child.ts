// A bench helper in its own process (simulated workers, submitting clients, BullMQ's side), so
// its CPU is measured apart from the bench's and does not queue behind the bench's event loop.
// It is `bun bench/<script>.ts <config JSON>`, talking over Bun's IPC channel.
import type { Subprocess } from 'bun'
import { join } from 'node:path'
import { cpuMs } from './profile'
import { baseEnv } from './proc'

/** Epoch milliseconds with sub-millisecond resolution, comparable between the bench's processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now()

/** A message between the bench and a child: a `type` and anything else. */
export interface ChildMessage {
  type: string
  [k: string]: unknown
}

/** A running helper process. */
export class Child {
  private readonly proc: Subprocess
  private readonly inbox: ChildMessage[] = []
  private waiting: (() => void) | undefined
  private readonly listeners = new Map<string, (m: ChildMessage) => void>()
  private stderr = ''

  constructor(
    readonly label: string,
    script: string,
    config: unknown,
  ) {
    this.proc = Bun.spawn([process.execPath, join(import.meta.dir, script), JSON.stringify(config)], {
      env: baseEnv(),
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'pipe',
      serialization: 'json',
      ipc: (m: ChildMessage) => {
        const on = this.listeners.get(m.type)
        if (on) return on(m)
        this.inbox.push(m)
        this.waiting?.()
      },
    })
    void new Response(this.proc.stderr as ReadableStream).text().then((t) => (this.stderr = t))
  }

  /** Calls `fn` for every message of `type` (instead of queueing it). */
  on(type: string, fn: (m: ChildMessage) => void): void {
    this.listeners.set(type, fn)
  }

  /** Sends a message to the child. */
  send(m: ChildMessage): void {
    this.proc.send(m)
  }

  /** The next message of `type`; fails when the child exits first or `ms` passes. */
  async next<T extends { type: string } = ChildMessage>(type: string, ms = 600_000): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type)
      if (i >= 0) return this.inbox.splice(i, 1)[0] as unknown as T
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        await Bun.sleep(100) // lets its stderr arrive
        const why = this.proc.exitCode !== null ? `it exited with ${this.proc.exitCode}` : `${ms} ms passed`
        throw new Error(`${this.label}: no '${type}' message (${why}): ${this.stderr.trim().slice(-2000)}`)
      }
      await new Promise<void>((r) => {
        this.waiting = r
        setTimeout(r, 200)
      })
    }
  }

  /** CPU milliseconds the child has used so far (NaN once it has exited). */
  cpuMs(): number {
    return cpuMs(this.proc.pid)
  }

  /** Ends the child (it has sent what it had to) and waits for it. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM')
    await this.proc.exited
  }
}

/** In a child: the config it was started with, and its side of the IPC channel. */
export function childSide<C>(): {
  config: C
  send: <M extends { type: string }>(m: M) => void
  next: (type: string) => Promise<ChildMessage>
} {
  const config = JSON.parse(process.argv[2] ?? '{}') as C
  const inbox: ChildMessage[] = []
  const waiting = new Set<() => void>()
  process.on('message', (m: ChildMessage) => {
    inbox.push(m)
    for (const w of waiting) w()
  })
  // The parent going away ends the child: nothing else would.
  process.on('disconnect', () => process.exit(0))
  return {
    config,
    send: (m) => process.send?.(m),
    next: async (type) => {
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type)
        if (i >= 0) return inbox.splice(i, 1)[0]!
        await new Promise<void>((r) => {
          const w = () => {
            waiting.delete(w)
            r()
          }
          waiting.add(w)
        })
      }
    },
  }
}

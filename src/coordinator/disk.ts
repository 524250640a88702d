import { closeSync, fsyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { GridError } from '../errors'
import { formatBytes } from '../protocol/units'

/** True when `err`, or an error it wraps, says the disk is full: SQLite's SQLITE_FULL, ENOSPC or EDQUOT. */
export function isDiskFull(err: unknown): boolean {
  let e: unknown = err
  // drizzle wraps SQLite's error in its own; a few levels are all any caller adds.
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

/** Bytes this process may still write on the file system holding `dir`, or undefined when unknown. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir)
    // root may write into the blocks reserved for it; everyone else stops at `bavail`.
    return (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize
  } catch {
    return undefined
  }
}

/** Space a probe write needs before the disk counts as usable again: a few SQLite transactions. */
const PROBE_BYTES = 1024 * 1024

/**
 * The coordinator's view of its data directory's disk. A write that fails because the disk is
 * full turns into one 507 answer per request (not a stack trace), one log line per episode and a
 * degraded /health; a probe write every `probeMs` notices when the operator has freed space.
 */
export class DiskGuard {
  private fullSince: number | undefined
  private probe: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
    private readonly probeMs = 1000,
  ) {}

  /** The error to answer with when `err` is a full disk (noting the condition), else undefined. */
  refusal(err: unknown): GridError | undefined {
    if (!isDiskFull(err)) return undefined
    if (this.fullSince === undefined) {
      this.fullSince = Date.now()
      this.log(
        `the disk holding ${this.dir} is full (${this.free()} free): requests that write are refused (507 disk_full) until space is freed`,
      )
      this.probe = setInterval(() => this.recovered(), this.probeMs)
      this.probe.unref?.()
    }
    return new GridError(
      'disk_full',
      `the coordinator's disk is full (${this.dir}, ${this.free()} free): the operator must free space; nothing was written`,
      { status: 507, retryable: true, cause: err },
    )
  }

  /** Why the coordinator is degraded (its disk is full), or undefined while its disk is fine. */
  problem(): string | undefined {
    if (this.fullSince === undefined) return undefined
    return `the disk holding the data directory ${this.dir} is full (${this.free()} free) since ${new Date(this.fullSince).toISOString()}: requests that write are refused with 507 disk_full until the operator frees space`
  }

  /** Checks, after a full disk, whether a probe write fits again; true (and logged once) when it does. */
  recovered(): boolean {
    if (this.fullSince === undefined) return true
    const path = join(this.dir, '.gridx-space-probe')
    try {
      const fd = openSync(path, 'w', 0o600)
      try {
        writeSync(fd, Buffer.alloc(PROBE_BYTES))
        // Delayed allocation reports a full disk only when the data must reach it.
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    } catch {
      return false
    } finally {
      rmSync(path, { force: true })
    }
    this.fullSince = undefined
    this.stop()
    this.log(
      `disk space is back (${this.free()} free on the disk holding ${this.dir}); writes are accepted again`,
    )
    return true
  }

  /** Stops probing (coordinator shutting down). */
  stop(): void {
    if (this.probe) clearInterval(this.probe)
    this.probe = undefined
  }

  private free(): string {
    const n = freeBytes(this.dir)
    return n === undefined ? 'unknown space' : formatBytes(n)
  }
}

import type { QueueWatch } from './lifecycle'
import type { QueuedJob } from './store'

/**
 * A queued job in its owner's line; `gone` once it left the queue (dropped lazily). `local`: it
 * entered the queue through this coordinator (submitted or requeued here), not announced by another.
 */
interface Entry {
  job: QueuedJob
  gone: boolean
  local: boolean
}

/** What cursors cost: entries they looked at (live or gone), so a test can bound a pass's work. */
interface Meter {
  stepped: number
}

/** One user's queued jobs in their order (priority, then age, then id), with gone ones skipped lazily. */
class Line {
  constructor(private readonly meter: Meter) {}

  entries: Entry[] = []
  /** Entries before `head` are all gone. */
  head = 0
  live = 0

  /** The first live entry at or after `from`, and its position. */
  next(from: number): number {
    let i = Math.max(from, this.head)
    const start = i
    while (i < this.entries.length && this.entries[i]!.gone) i++
    this.meter.stepped += i - start + 1
    if (from <= this.head) this.head = i
    return i
  }

  insert(entry: Entry): void {
    const list = this.entries
    const last = list[list.length - 1]
    if (!last || ahead(last, entry)) list.push(entry)
    else {
      let lo = this.head
      let hi = list.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (ahead(list[mid]!, entry)) lo = mid + 1
        else hi = mid
      }
      list.splice(lo, 0, entry)
    }
    this.live++
  }

  /** Drops gone entries once they are most of the line, so it does not grow without bound. */
  compact(): void {
    if (this.entries.length < 64 || this.live * 2 > this.entries.length) return
    this.entries = this.entries.filter((e) => !e.gone)
    this.head = 0
  }
}

/**
 * True when entry `a` is dispatched before `b` here: higher priority; then, within a priority,
 * jobs that entered the queue here before those another coordinator announced (so each
 * coordinator of a grid mostly places the jobs it was given, and they do not all race for the
 * same head jobs; another's jobs are taken only when none of its own are left); then `before`.
 */
function ahead(a: Entry, b: Entry): boolean {
  if (a.job.priority !== b.job.priority) return a.job.priority > b.job.priority
  if (a.local !== b.local) return a.local
  return before(a.job, b.job)
}

/** True when `a` comes before `b` in a user's line: higher priority, then older, then smaller id. */
function before(a: QueuedJob, b: QueuedJob): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt
  return a.id < b.id
}

/** Where a pass stands in one user's line. */
export interface Cursor {
  readonly ownerId: string
  /** Jobs of this user the pass looked at so far. */
  looked: number
  /** The job under the cursor, undefined once the line is done. */
  job(): QueuedJob | undefined
  /** Moves past the job under the cursor. */
  advance(): void
}

/**
 * The queue kept in memory, in step with the store: every queued job by user in the user's order,
 * and how many jobs each user has assigned or running. A scheduling pass reads it instead of
 * ranking the whole queue in SQL, so what an assignment costs does not grow with the queue.
 * The store stays the truth: an assignment is compare-and-set there, and an entry another
 * coordinator took meanwhile is dropped when its assignment finds it gone.
 */
export class QueueIndex {
  private readonly byId = new Map<string, Entry>()
  private readonly lines = new Map<string, Line>()
  private readonly running = new Map<string, number>()
  /** Owner of each job this index counts as active. */
  private readonly activeOwner = new Map<string, string>()
  /** Members of each array assigned or running (`--array ...%N` caps it), and the array of each such job. */
  private readonly arrayRunning = new Map<string, number>()
  private readonly activeArray = new Map<string, string>()
  private readonly meter: Meter = { stepped: 0 }

  /** Entries the cursors looked at so far, gone ones included: what passes cost, whatever the queue's length. */
  get stepped(): number {
    return this.meter.stepped
  }

  /** Entries the lines hold, gone ones not yet dropped included (what the index's memory grows with). */
  get held(): number {
    let n = 0
    for (const line of this.lines.values()) n += line.entries.length
    return n
  }

  /** Queued jobs indexed. */
  get size(): number {
    return this.byId.size
  }

  /** Whether a job is indexed as queued. */
  has(id: string): boolean {
    return this.byId.has(id)
  }

  /**
   * Replaces everything: the queued jobs and the active ones (at start, and after the grid's
   * channel was down). Who queued each is not known then: all count as queued here.
   */
  load(
    queued: readonly QueuedJob[],
    active: readonly { id: string; ownerId: string; arrayId?: string | null }[],
  ): void {
    this.byId.clear()
    this.lines.clear()
    for (const job of queued) this.add(job)
    this.countActive(active)
  }

  /** Counts as active exactly these jobs (with several coordinators, as the rows say now and then). */
  countActive(active: readonly { id: string; ownerId: string; arrayId?: string | null }[]): void {
    this.running.clear()
    this.activeOwner.clear()
    this.arrayRunning.clear()
    this.activeArray.clear()
    for (const a of active) this.started(a.id, a.ownerId, a.arrayId)
  }

  /**
   * A job entered the queue (submitted or requeued); a repeat is ignored. `local` false: another
   * coordinator of the grid announced it, and this one places it only once none of its own wait.
   */
  add(job: QueuedJob, local = true): void {
    if (this.byId.has(job.id)) return
    this.stopped(job.id)
    const entry: Entry = { job, gone: false, local }
    this.byId.set(job.id, entry)
    let line = this.lines.get(job.ownerId)
    if (!line) {
      line = new Line(this.meter)
      this.lines.set(job.ownerId, line)
    }
    // Never during a pass's picks (they only remove), so no cursor is in the line now: gone
    // entries of jobs cancelled while no worker had room do not pile up until the next pass.
    line.compact()
    line.insert(entry)
  }

  /** A job left the queue (assigned, cancelled, or found taken). */
  remove(id: string): void {
    const entry = this.byId.get(id)
    if (!entry) return
    this.byId.delete(id)
    entry.gone = true
    const line = this.lines.get(entry.job.ownerId)!
    line.live--
    if (line.live === 0) this.lines.delete(entry.job.ownerId)
  }

  /** A job of `ownerId` (a member of `arrayId`, if given) is now assigned or running (counted once). */
  started(id: string, ownerId: string, arrayId?: string | null): void {
    if (this.activeOwner.has(id)) return
    this.activeOwner.set(id, ownerId)
    this.running.set(ownerId, (this.running.get(ownerId) ?? 0) + 1)
    if (arrayId) {
      this.activeArray.set(id, arrayId)
      this.arrayRunning.set(arrayId, (this.arrayRunning.get(arrayId) ?? 0) + 1)
    }
  }

  /** A job is no longer assigned or running (it ended or went back to the queue). */
  stopped(id: string): void {
    const owner = this.activeOwner.get(id)
    if (owner === undefined) return
    this.activeOwner.delete(id)
    const n = (this.running.get(owner) ?? 1) - 1
    if (n > 0) this.running.set(owner, n)
    else this.running.delete(owner)
    const array = this.activeArray.get(id)
    if (array === undefined) return
    this.activeArray.delete(id)
    const m = (this.arrayRunning.get(array) ?? 1) - 1
    if (m > 0) this.arrayRunning.set(array, m)
    else this.arrayRunning.delete(array)
  }

  /** Members of an array assigned or running, as this index counts them. */
  runningOfArray(arrayId: string): number {
    return this.arrayRunning.get(arrayId) ?? 0
  }

  /** True when a job is a member of an array already running as many members as its cap allows. */
  capped(job: QueuedJob): boolean {
    return job.arrayCap !== null && job.arrayId !== null && this.runningOfArray(job.arrayId) >= job.arrayCap
  }

  /** Jobs of a user assigned or running, as this index counts them. */
  runningOf(ownerId: string): number {
    return this.running.get(ownerId) ?? 0
  }

  /**
   * A cursor at the head of every user's line that has queued jobs. Jobs added meanwhile may
   * shift a cursor back onto one it passed (looked at again, harmless); lines are compacted
   * only here, between passes, so no cursor ever points past a live job.
   */
  cursors(): Cursor[] {
    const out: Cursor[] = []
    for (const [ownerId, line] of this.lines) {
      line.compact()
      let at = line.next(0)
      out.push({
        ownerId,
        looked: 0,
        job: () => {
          at = line.next(at)
          return line.entries[at]?.job
        },
        advance() {
          this.looked++
          at = line.next(at) + 1
        },
      })
    }
    return out
  }

  /** Where a queued job stands: its owner's queued jobs ahead of it, and all queued jobs. */
  position(job: QueuedJob): { aheadOfMine: number; queued: number } {
    const line = this.lines.get(job.ownerId)
    let ahead = 0
    for (const e of line?.entries ?? []) if (!e.gone && e.job.id !== job.id && before(e.job, job)) ahead++
    return { aheadOfMine: ahead, queued: this.byId.size }
  }
}

/** What the lifecycle reports to: the index, and (with several coordinators) the grid, told `tell`. */
export function watchQueue(
  index: QueueIndex,
  tell?: { queued(jobId: string): void; taken(jobIds: string[]): void },
): QueueWatch {
  return {
    queued: (job) => {
      index.add(job)
      tell?.queued(job.id)
    },
    left: (id) => {
      index.remove(id)
      index.stopped(id)
      tell?.taken([id])
    },
    stopped: (id) => index.stopped(id),
  }
}

import type { Database, Statement } from 'bun:sqlite'
import { isDiskFull } from '../../disk'
import type { Db, Tx } from './ledger'

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown }

interface Item {
  fn: (tx: Tx) => unknown
  kind: string | undefined
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/**
 * Group commit: the state changes asked for within one turn of the event loop are written in one
 * transaction, and every caller hears its answer only after that transaction committed. Each
 * commit of the WAL costs a write of every page it touched, and now and then a checkpoint's
 * fsyncs: under load they were a sixth of the coordinator's CPU one job at a time (the dispatch
 * bench). A change is never acknowledged (a result, a submission) before its transaction is in
 * the WAL file, where it survives a crash of the coordinator; the WAL is synced to the disk at each
 * checkpoint (synchronous = NORMAL, see index.ts), so a power cut may lose what came after the last.
 *
 * A change that throws undoes only itself. The batch first runs as one plain transaction; only
 * when a change of it throws is the whole of it rolled back and run again with each change in a
 * savepoint of its own. A savepoint keeps a copy of every page its change touches, to undo it
 * with, and savepoints around every change were a tenth of what SQLite cost per job, for the rare
 * change that throws (a submission its owner cannot afford).
 */
export class WriteBatch {
  private items: Item[] = []
  private scheduled = false
  /** A change of the last batch threw: the next takes savepoints from the start. */
  private guarded = false
  /** What runs after all the changes of a kind in a batch (see `afterKind`). */
  private readonly afters = new Map<string, { after: (tx: Tx) => void; discard: () => void }>()
  private readonly begin: Statement<unknown, []>
  private readonly commit: Statement<unknown, []>
  private readonly rollback: Statement<unknown, []>
  private readonly savepoint: Statement<unknown, []>
  private readonly release: Statement<unknown, []>
  private readonly undo: Statement<unknown, []>

  constructor(
    private readonly db: Db,
    private readonly sqlite: Database,
  ) {
    // Compiled once: drizzle's nested transactions built two statements per change.
    this.begin = sqlite.prepare<unknown, []>('BEGIN')
    this.commit = sqlite.prepare<unknown, []>('COMMIT')
    this.rollback = sqlite.prepare<unknown, []>('ROLLBACK')
    this.savepoint = sqlite.prepare<unknown, []>('SAVEPOINT change')
    this.release = sqlite.prepare<unknown, []>('RELEASE change')
    this.undo = sqlite.prepare<unknown, []>('ROLLBACK TO change')
  }

  /**
   * Runs `after` once the changes of `kind` in a batch have run, in the same transaction: what
   * they left to do together (a settlement's transfers). When it throws, nothing of the batch
   * is written and every change of it hears the error, as when the commit fails; `discard`
   * then drops what the changes left for it.
   */
  afterKind(kind: string, after: (tx: Tx) => void, discard: () => void): void {
    this.afters.set(kind, { after, discard })
  }

  /**
   * Runs `fn` in the next group transaction; resolves with its value once committed. Changes of
   * one `kind` run one after another, where the first of them came: the same statements back to
   * back find SQLite's code and pages still in the CPU's caches. Only changes that nobody could
   * have ordered (each asked for while the others were pending) may share a kind.
   */
  run<T>(fn: (tx: Tx) => T, kind?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.items.push({ fn, kind, resolve: resolve as (value: unknown) => void, reject })
      if (this.scheduled) return
      this.scheduled = true
      setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    this.scheduled = false
    const items = this.items
    this.items = []
    const order = runOrder(items)
    let outcomes: Outcome[]
    try {
      // After a batch in which a change threw, the next ones take savepoints at once until one
      // runs clean: a stream of refused changes (one user's unaffordable submissions) does not
      // make every batch run twice.
      outcomes =
        (this.guarded ? undefined : this.attempt(items, order, false)) ?? this.attempt(items, order, true)!
      this.guarded = outcomes.some((o) => !o.ok)
    } catch (err) {
      // The transaction could not begin or commit (a full disk, a closed database), a change met
      // a full disk or lost the transaction, or a kind's `after` failed: nothing of the batch was
      // written, and every change hears why; this runs from a timer, so it never throws.
      this.abandon()
      for (const item of items) item.reject(err)
      return
    }
    items.forEach((item, i) => {
      const o = outcomes[i]!
      if (o.ok) item.resolve(o.value)
      else item.reject(o.err)
    })
  }

  /**
   * Runs the batch in one transaction and commits it. Without savepoints, the first change that
   * throws ends the try: the transaction is rolled back and undefined returned (nothing written,
   * nothing left for the kinds' `after`), for the batch to run again with them, which always
   * gets to the commit (or throws).
   */
  private attempt(
    items: readonly Item[],
    order: readonly number[][],
    savepoints: boolean,
  ): Outcome[] | undefined {
    const outcomes: Outcome[] = new Array<Outcome>(items.length)
    this.begin.run()
    for (const group of order) {
      for (const i of group) {
        const item = items[i]!
        if (savepoints) {
          outcomes[i] = this.change(item)
          continue
        }
        try {
          outcomes[i] = { ok: true, value: item.fn(this.db) }
        } catch (err) {
          // A full disk, or SQLite rolled the whole transaction back by itself (an I/O error):
          // running the batch again would meet the same error, and the caller must hear it.
          if (!this.sqlite.inTransaction || isDiskFull(err)) throw err
          this.abandon()
          return undefined
        }
      }
      const kind = items[group[0]!]!.kind
      if (kind !== undefined) this.afters.get(kind)?.after(this.db)
    }
    this.commit.run()
    return outcomes
  }

  /** Rolls back the open transaction, if any, and drops what the changes left for the kinds' `after`. */
  private abandon(): void {
    try {
      if (this.sqlite.inTransaction) this.rollback.run()
    } catch {
      // SQLite rolls back by itself when it cannot; the changes are refused either way.
    }
    for (const { discard } of this.afters.values()) discard()
  }

  /** One change inside its savepoint: undone alone when it throws. */
  private change(item: Item): Outcome {
    this.savepoint.run()
    try {
      const value = item.fn(this.db)
      this.release.run()
      return { ok: true, value }
    } catch (err) {
      // No transaction left to undo the change in (SQLite rolled it back by itself): the batch
      // fails with this error, not with the savepoint's.
      if (!this.sqlite.inTransaction) throw err
      this.undo.run()
      this.release.run()
      return { ok: false, err }
    }
  }
}

/** The order a batch's changes run in: each kind together, where its first change came; a change of no kind alone. */
function runOrder(items: readonly Item[]): number[][] {
  const groups = new Map<string, number[]>()
  const order: number[][] = []
  items.forEach((item, i) => {
    if (item.kind === undefined) {
      order.push([i])
      return
    }
    let group = groups.get(item.kind)
    if (!group) {
      group = []
      groups.set(item.kind, group)
      order.push(group)
    }
    group.push(i)
  })
  return order
}

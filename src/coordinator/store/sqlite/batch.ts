import type { Db, Tx } from './ledger'

/**
 * How long the first change of a batch waits for others: a commit costs some 30 µs whatever it
 * holds, and under load a millisecond gathers dozens of changes into one.
 */
const WINDOW_MS = 1

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown }

interface Item {
  fn: (tx: Tx) => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/**
 * Group commit: the state changes asked for within a millisecond are written in one
 * transaction, each inside its own savepoint (one that throws undoes only itself), and every
 * caller hears its answer only after that transaction committed. Each commit of the WAL costs a
 * write of every page it touched, and now and then a checkpoint's fsyncs: under load they were a
 * sixth of the coordinator's CPU one job at a time (the dispatch bench). A change is never
 * acknowledged (a result, a submission) before it is on disk.
 */
export class WriteBatch {
  private items: Item[] = []
  private scheduled = false

  constructor(private readonly db: Db) {}

  /** Runs `fn` in the next group transaction; resolves with its value once committed. */
  run<T>(fn: (tx: Tx) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.items.push({ fn, resolve: resolve as (value: unknown) => void, reject })
      if (this.scheduled) return
      this.scheduled = true
      setTimeout(() => this.flush(), WINDOW_MS)
    })
  }

  private flush(): void {
    this.scheduled = false
    const items = this.items
    this.items = []
    if (items.length === 1) {
      // Alone, its own transaction is its savepoint.
      const [item] = items
      try {
        item!.resolve(this.db.transaction((tx) => item!.fn(tx)))
      } catch (err) {
        item!.reject(err)
      }
      return
    }
    const outcomes: Outcome[] = []
    try {
      this.db.transaction((tx) => {
        for (const item of items) {
          try {
            outcomes.push({ ok: true, value: tx.transaction((sp) => item.fn(sp)) })
          } catch (err) {
            outcomes.push({ ok: false, err })
          }
        }
      })
    } catch (err) {
      // The commit failed (a full disk): nothing of the batch was written.
      for (const item of items) item.reject(err)
      return
    }
    items.forEach((item, i) => {
      const o = outcomes[i]!
      if (o.ok) item.resolve(o.value)
      else item.reject(o.err)
    })
  }
}

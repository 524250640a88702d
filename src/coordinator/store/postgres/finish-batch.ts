import type { SQL } from 'bun'
import { type Finishing, finishJobs, leaseKey } from './settle-many-sql'

interface Pending extends Finishing {
  resolve: (ended: boolean) => void
  reject: (err: unknown) => void
}

/** Most results one statement settles (its JSON parameter stays small). */
const MAX_BATCH = 256

/**
 * Group commit of results on PostgreSQL: the results that arrive while the previous batch is in
 * the database are settled together, in one statement (settle-many-sql.ts), so the worker owner's
 * account row, which every result moves, is locked and committed once per batch rather than once
 * per job. A result with no batch in flight goes out on the next turn of the event loop, alone.
 * Every caller hears its answer only after its statement committed, as with one statement each.
 */
export class FinishBatch {
  private queue: Pending[] = []
  private busy = false

  constructor(private readonly client: SQL) {}

  /** Ends and settles an attempt; false when stale or already ended (as if alone). */
  finish(f: Finishing): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ ...f, resolve, reject })
      if (this.busy) return
      this.busy = true
      setImmediate(() => void this.drain())
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.take()
      await this.settle(batch)
    }
    this.busy = false
  }

  /** The next batch: each attempt at most once (a result resent meanwhile waits for the next). */
  private take(): Pending[] {
    const batch: Pending[] = []
    const rest: Pending[] = []
    const keys = new Set<string>()
    for (const p of this.queue) {
      const key = leaseKey(p.lease)
      if (batch.length >= MAX_BATCH || keys.has(key)) rest.push(p)
      else {
        keys.add(key)
        batch.push(p)
      }
    }
    this.queue = rest
    return batch
  }

  private async settle(batch: Pending[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const ended = await finishJobs(this.client, batch)
        for (const p of batch) p.resolve(ended.has(leaseKey(p.lease)))
        return
      } catch {
        // Nothing of the batch was written: each result again alone, so each hears its own answer.
      }
    }
    await Promise.all(
      batch.map(async (p) => {
        try {
          p.resolve((await finishJobs(this.client, [p])).has(leaseKey(p.lease)))
        } catch (err) {
          p.reject(err)
        }
      }),
    )
  }
}

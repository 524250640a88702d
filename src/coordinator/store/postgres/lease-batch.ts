import type { SQL } from 'bun'
import type { LeaseRef } from '../../../protocol/worker'
import { type Finishing, finishJobs, leaseKey } from './settle-many-sql'
import { type Starting, startJobs } from './start-many-sql'

type Pending<T> = T & {
  resolve: (done: boolean) => void
  reject: (err: unknown) => void
}

/** Makes a batch's changes in one statement; the keys (`leaseKey`) of the leases it changed. */
type Statement<T> = (client: SQL, batch: readonly T[]) => Promise<Set<string>>

/** Most results one statement settles (its JSON parameter stays small). */
const MAX_BATCH = 256

/**
 * Group commit of one kind of lease change on PostgreSQL: the changes that arrive while the
 * previous batch is in the database are made together, in one statement. For results
 * (settle-many-sql.ts) the worker owner's account row, which every result moves, is locked and
 * committed once per batch rather than once per job; starts (start-many-sql.ts) were a statement
 * of about 0.2 ms of PostgreSQL's CPU each. A change with no batch in flight goes out on the next
 * turn of the event loop, alone. Every caller hears its answer only after its statement
 * committed, as with one statement each.
 */
class LeaseBatch<T extends { lease: LeaseRef }> {
  private queue: Pending<T>[] = []
  private busy = false

  constructor(
    private readonly client: SQL,
    private readonly statement: Statement<T>,
  ) {}

  /** Makes the change; false when the lease is stale or the change already made (as if alone). */
  run(f: T): Promise<boolean> {
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
      await this.make(batch)
    }
    this.busy = false
  }

  /** The next batch: each attempt at most once (a change resent meanwhile waits for the next). */
  private take(): Pending<T>[] {
    const batch: Pending<T>[] = []
    const rest: Pending<T>[] = []
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

  private async make(batch: Pending<T>[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const done = await this.statement(this.client, batch)
        for (const p of batch) p.resolve(done.has(leaseKey(p.lease)))
        return
      } catch {
        // Nothing of the batch was written: each change again alone, so each hears its own answer.
      }
    }
    await Promise.all(
      batch.map(async (p) => {
        try {
          p.resolve((await this.statement(this.client, [p])).has(leaseKey(p.lease)))
        } catch (err) {
          p.reject(err)
        }
      }),
    )
  }
}

/** Results' endings and settlements, batched. */
export class FinishBatch extends LeaseBatch<Finishing> {
  constructor(client: SQL) {
    super(client, finishJobs)
  }
}

/** Starts of assigned attempts, batched. */
export class StartBatch extends LeaseBatch<Starting> {
  constructor(client: SQL) {
    super(client, startJobs)
  }
}

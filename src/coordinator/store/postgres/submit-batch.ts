import type { SQL } from 'bun'
import type { JobRow } from '../../../db/sqlite/schema'
import type { NewJob } from '../types'
import { createJobs } from './submit-many-sql'
import { createJob } from './submit-sql'

interface Pending {
  job: NewJob
  resolve: (row: JobRow) => void
  reject: (err: unknown) => void
}

/** Most submissions one statement queues (each batch size is its own prepared text). */
const MAX_BATCH = 32

/**
 * Group commit of submissions on PostgreSQL: those that arrive while the previous batch is in
 * the database are queued together in one statement (submit-many-sql.ts), locking each owner's
 * accounts once per batch. A submission the batch could not fund is tried again alone, so its
 * refusal names the balance it met, as one statement each would. Every caller hears its answer
 * only after its statement committed.
 */
export class SubmitBatch {
  private queue: Pending[] = []
  private busy = false

  constructor(private readonly client: SQL) {}

  /** Queues a job and escrows its maximum cost (as `createJob`). */
  create(job: NewJob): Promise<JobRow> {
    return new Promise<JobRow>((resolve, reject) => {
      this.queue.push({ job, resolve, reject })
      if (this.busy) return
      this.busy = true
      setImmediate(() => void this.drain())
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH)
      await this.submit(batch)
    }
    this.busy = false
  }

  private async submit(batch: Pending[]): Promise<void> {
    let alone = batch
    if (batch.length > 1) {
      try {
        const rows = await createJobs(
          this.client,
          batch.map((p) => p.job),
        )
        alone = []
        batch.forEach((p, i) => {
          const row = rows[i]
          if (row) p.resolve(row)
          else alone.push(p)
        })
      } catch {
        // Nothing of the batch was written: each submission again alone, so each hears its own answer.
      }
    }
    await Promise.all(
      alone.map(async (p) => {
        try {
          p.resolve(await createJob(this.client, p.job))
        } catch (err) {
          p.reject(err)
        }
      }),
    )
  }
}

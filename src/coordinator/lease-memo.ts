import type { LeaseRef } from '../protocol/worker'
import type { JobLease, JobRow } from './store'

/** Attempts remembered at most: far more than the slots of the largest grid are running. */
const MAX_LEASES = 100_000

/**
 * What this coordinator knows of the attempts it assigned, so that a result, checked against its
 * job's attempt, holder, start and size, needs no read of the job (on PostgreSQL a round trip a
 * job). It is what the row says as long as only this coordinator changes it; another one (a
 * cancel there, an expiry in its sweep) can leave it stale, and then the ending's own guarded
 * write refuses the result all the same. A job waited for by one submitted elsewhere meanwhile
 * is settled by the sweep (`WaitingSweep`). A result takes its attempt's entry: a repeat reads.
 */
export class LeaseMemo {
  private readonly leases = new Map<string, JobLease>()

  /** An attempt was assigned here (`row` as its assignment returned it). */
  assigned(row: JobRow): void {
    if (row.workerId === null) return
    this.leases.delete(row.id)
    if (this.leases.size >= MAX_LEASES) this.leases.delete(this.leases.keys().next().value!)
    this.leases.set(row.id, {
      id: row.id,
      ownerId: row.ownerId,
      state: row.state,
      attempt: row.attempt,
      workerId: row.workerId,
      startedAt: row.startedAt,
      cpus: row.cpus,
      timeoutMs: row.timeoutMs,
      hasDependents: row.hasDependents,
    })
  }

  /** The attempt started, billed from `startedAt` (as its row now says). */
  started(lease: LeaseRef, startedAt: number): void {
    const known = this.leases.get(lease.jobId)
    if (known?.attempt !== lease.attempt) return
    known.state = 'running'
    known.startedAt = startedAt
  }

  /** Jobs now waited for (a submission `--after` them here). */
  waitedFor(jobIds: readonly string[]): void {
    for (const id of jobIds) {
      const known = this.leases.get(id)
      if (known) known.hasDependents = true
    }
  }

  /** Takes what is known of `lease` held by `workerId`; undefined when nothing is (read the row). */
  take(lease: LeaseRef, workerId: string): JobLease | undefined {
    const known = this.leases.get(lease.jobId)
    if (known?.attempt !== lease.attempt || known.workerId !== workerId) return undefined
    this.leases.delete(lease.jobId)
    return known
  }

  /** The job's attempt was ended, cancelled or requeued here. */
  drop(jobId: string): void {
    this.leases.delete(jobId)
  }
}

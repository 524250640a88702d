import type { JobRow } from './store'
import type { LeaseRef } from '../protocol/worker'
import { archiveCeiling } from './http-limits'
import type { Settings } from './settings'
import type { Store } from './store'

/** The longest the body meter lets an upload of `bytes` take: the floor, then `minBodyRate`. */
function meteredMs(bytes: number, settings: Settings): number {
  return settings.idleTimeoutMs + Math.ceil((bytes / settings.minBodyRate) * 1000)
}

/**
 * Keeps a job's deadline clear of the upload of its /out files. A worker uploads them after the
 * job exited and reports the result only then, so a deadline set at the start (timeout plus
 * grace) would end a job that finished early but uploads slowly as `timeout`. The body meter
 * already cuts an upload slower than `minBodyRate`, so the coordinator can vouch for that much
 * time: when an upload starts the deadline moves to at least now + grace + the metered time of
 * the declared size (the route's ceiling when it declares none). It never moves past the time an
 * upload of the largest archive allowed would take after the original deadline, so a worker that
 * uploads again and again cannot hold a job forever.
 */
export class UploadDeadline {
  constructor(
    private readonly store: Store,
    private readonly settings: Settings,
  ) {}

  /** An /out upload of `declared` bytes starts for a live lease. */
  async starting(
    lease: LeaseRef,
    job: Pick<JobRow, 'timeoutMs'>,
    workerId: string,
    declared: number | undefined,
    now: number,
  ): Promise<void> {
    const ceiling = archiveCeiling(this.settings.maxOutputBytes, this.settings.maxArchiveEntries)
    const bytes = Math.min(declared ?? ceiling, ceiling)
    const until = now + this.settings.deadlineGraceMs + meteredMs(bytes, this.settings)
    await this.store.deadlines.extend(lease, workerId, Math.min(until, await this.latest(lease, job, now)))
  }

  /** The upload was staged: the result that follows gets a fresh grace. */
  async staged(
    lease: LeaseRef,
    job: Pick<JobRow, 'timeoutMs'>,
    workerId: string,
    now: number,
  ): Promise<void> {
    const until = now + this.settings.deadlineGraceMs
    const latest = (await this.latest(lease, job, now)) + this.settings.deadlineGraceMs
    await this.store.deadlines.extend(lease, workerId, Math.min(until, latest))
  }

  private async latest(lease: LeaseRef, job: Pick<JobRow, 'timeoutMs'>, now: number): Promise<number> {
    const ceiling = archiveCeiling(this.settings.maxOutputBytes, this.settings.maxArchiveEntries)
    const since = (await this.store.deadlines.since(lease)) ?? now
    return since + job.timeoutMs + this.settings.deadlineGraceMs + meteredMs(ceiling, this.settings)
  }
}

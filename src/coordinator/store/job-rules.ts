import type { JobRow } from '../../db/sqlite/schema'
import type { Ending, LeaseTimings, NewJob, Requeue } from './types'

/*
 * What a job's transitions write, whatever engine stores them: the live states, the columns an
 * ending sets, and how many attempts a requeue leaves.
 */

/** The states in which a job holds a lease. */
export const ACTIVE = ['assigned', 'running'] as const

/** The live states: waiting or under lease. */
export const LIVE = ['queued', ...ACTIVE] as const

/** The coordinator's default timings (see settings.ts), for callers that give none. */
export const DEFAULT_TIMINGS: LeaseTimings = { deadlineGraceMs: 15_000, startAllowanceMs: 10 * 60_000 }

/** The columns a job's final state sets. */
export function endingColumns(end: Ending) {
  return {
    state: end.state,
    exitCode: end.exitCode,
    outcome: end.outcome,
    error: end.error,
    finishedAt: end.at,
    billedMs: end.billedMs,
    deadlineAt: null,
    leaseExpiresAt: null,
    ...(end.usage && {
      wallMs: Math.round(end.usage.wallMs),
      cpuMs: end.usage.cpuMs === null ? null : Math.round(end.usage.cpuMs),
      peakMemoryBytes: end.usage.peakMemoryBytes,
    }),
    ...(end.outputs && {
      outputsSha256: end.outputs.sha256,
      outputsBytes: end.outputs.bytes,
      outputFiles: end.outputs.files,
    }),
  }
}

/** The attempts a job may use after this requeue: a draining worker's release does not count. */
export function requeueLimit(job: Pick<JobRow, 'maxAttempts'>, how: Requeue): number {
  return how.consumesAttempt ? job.maxAttempts : job.maxAttempts + 1
}

/** How a job that used its last attempt ends: failed, costing its submitter nothing (the platform lost it). */
export function finalFailure(
  job: Pick<JobRow, 'attempt'>,
  how: Requeue,
  reason: string,
  now: number,
): Ending {
  return {
    state: 'failed',
    exitCode: null,
    outcome: how.finalOutcome ?? 'lost',
    error: how.finalError?.(job.attempt) ?? reason,
    at: now,
    cost: 0,
    billedMs: 0,
  }
}

/** The columns that put a job back in the queue for its next attempt. */
export function requeuedColumns(
  job: Pick<JobRow, 'installFailedOn'>,
  reason: string,
  maxAttempts: number,
  how: Requeue,
  workerId: string | undefined,
) {
  return {
    state: 'queued' as const,
    workerId: null,
    leaseExpiresAt: null,
    deadlineAt: null,
    startedAt: null,
    outputBytes: 0,
    error: reason,
    maxAttempts,
    // Placement skips the workers its packages failed to install on (see the scheduler).
    ...(how.avoidWorker && workerId !== undefined
      ? { installFailedOn: [...new Set([...job.installFailedOn, workerId])] }
      : {}),
  }
}

/** The cancellation of a job, billed for what it used. */
export function cancelEnding(now: number, billed: { cost: number; billedMs: number }): Ending {
  return { state: 'cancelled', exitCode: null, outcome: 'cancelled', error: null, at: now, ...billed }
}

/** What a new job's row holds besides what its submission gives (the schema's defaults). */
export const NEW_JOB_DEFAULTS = {
  attempt: 0,
  priority: 0,
  workerId: null,
  leaseExpiresAt: null,
  exitCode: null,
  outcome: null,
  error: null,
  outputBytes: 0,
  inputsSha256: null,
  inputsBytes: null,
  filesBytes: null,
  requirements: [],
  requiresPython: null,
  installFailedOn: [],
  outputsSha256: null,
  outputsBytes: null,
  outputFiles: null,
  wallMs: null,
  billedMs: null,
  deadlineAt: null,
  cpuMs: null,
  peakMemoryBytes: null,
  cost: null,
  startedAt: null,
  finishedAt: null,
  name: null,
  labels: {},
  env: {},
  arrayId: null,
  arrayIndex: null,
  arrayCap: null,
  held: false,
  hasDependents: false,
} satisfies Omit<JobRow, keyof NewJob | 'state'> & Partial<JobRow>

import { GridError } from '../../errors'
import { formatCredits } from '../../protocol/credits'
import { insufficientCredits } from './ledger-rules'
import type { Dependency, SweepKey } from './types'

/*
 * What a job's dependencies mean, whatever engine stores them: whether it may start, must go on
 * waiting, or can never start (and is cancelled, refunded, with the reason).
 */

/** What a held job's dependencies say now. */
export type Verdict = { kind: 'wait' } | { kind: 'release' } | { kind: 'cancel'; reason: string }

const WAIT: Verdict = { kind: 'wait' }
const RELEASE: Verdict = { kind: 'release' }

/** The verdict on a job from its dependencies' states. */
export function decide(deps: readonly Dependency[]): Verdict {
  let waiting = false
  for (const d of deps) {
    if (d.state === 'succeeded') continue
    if (d.state === 'failed' || d.state === 'cancelled') {
      if (!d.anyEnd)
        return {
          kind: 'cancel',
          reason: `dependency ${d.id} ${d.state === 'failed' ? 'failed' : 'was cancelled'}`,
        }
      continue
    }
    waiting = true
  }
  return waiting ? WAIT : RELEASE
}

/** Before every key a sweep's pages meet (times are never negative): where a sweep given no key starts. */
export const FIRST_KEY: SweepKey = { at: -1, id: '' }

/** The states a job ends in: a dependency in none of them is still open. */
export const FINAL_STATES: Dependency['state'][] = ['succeeded', 'failed', 'cancelled']

/** A held job to decide: with those of its dependencies that just ended, or undefined to read them all. */
export interface Waiter {
  id: string
  ended: Dependency[] | undefined
}

/**
 * The verdict on a held job, reading no more of its dependencies than it needs: one that just
 * ended and failed (for an `--after`) cancels it at once; while `stillOpen` finds one not ended
 * it waits; only then are all read (once per job, not at each of its dependencies' ends, so a job
 * after a 10,000-member array costs a look per member, not 10,000 reads).
 */
export function verdictOnEnd(
  ended: Dependency[] | undefined,
  stillOpen: () => boolean,
  all: () => Dependency[],
): Verdict {
  if (ended) {
    const now = decide(ended)
    if (now.kind === 'cancel') return now
    if (stillOpen()) return WAIT
  }
  return decide(all())
}

/** Rows of (waiter, dependency that ended, its state, any ending) as one `Waiter` each, in the order first met. */
export function groupWaiters(rows: readonly ({ waiter: string } & Dependency)[]): Waiter[] {
  const byId = new Map<string, Dependency[]>()
  for (const r of rows) {
    let ended = byId.get(r.waiter)
    if (!ended) byId.set(r.waiter, (ended = []))
    ended.push({ id: r.id, state: r.state, anyEnd: r.anyEnd })
  }
  return [...byId].map(([id, ended]) => ({ id, ended }))
}

/** The outcome a job cancelled for its dependency ends with. */
export const DEPENDENCY_OUTCOME = 'dependency'

/** What a held job's row becomes when a dependency's failure cancels it: it never ran, so it cost nothing. */
export function cancelledForDependency(reason: string, now: number) {
  return {
    state: 'cancelled' as const,
    held: false,
    outcome: DEPENDENCY_OUTCOME,
    error: reason,
    finishedAt: now,
    cost: 0,
    billedMs: 0,
  }
}

/** The 409 for a job `--after` one that already failed: it could never start. */
export function dependencyAlreadyFailed(reason: string): GridError {
  return new GridError(
    'dependency_failed',
    `${reason}, so a job --after it would never start: submit it with --after-any to run it whatever the ending, or leave that dependency out`,
    { status: 409 },
  )
}

/** The 402 for an array its owner cannot afford as a whole (one job: the usual 402). */
export function arrayUnaffordable(size: number, total: number, balance: number): GridError {
  if (size === 1) return insufficientCredits(total, balance)
  return new GridError(
    'insufficient_credits',
    `insufficient credits: the array of ${size} jobs may cost up to ${formatCredits(total)} credits; you have ${formatCredits(balance)} (${formatCredits(total - balance)} missing). Make the array smaller, lower --timeout or --cpus, or earn credits by running 'gridx work'.`,
    { status: 402 },
  )
}

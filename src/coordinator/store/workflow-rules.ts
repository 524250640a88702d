import { GridError } from '../../errors'
import { formatCredits } from '../../protocol/credits'
import { insufficientCredits } from './ledger-rules'
import type { Dependency } from './types'

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

/** The outcome a job cancelled for its dependency ends with. */
export const DEPENDENCY_OUTCOME = 'dependency'

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

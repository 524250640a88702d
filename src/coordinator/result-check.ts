import { verifyReceipt } from '../protocol/receipt'
import type { WorkerMessage } from '../protocol/worker'

type Result = Extract<WorkerMessage, { type: 'job.result' }>

/**
 * What became of a worker's result: taken (now, or already before: a repeat), or refused with a
 * reason; `retry` says whether sending the same result later may succeed, `requeued` that the
 * refusal put the job back in the queue.
 */
export type Verdict =
  { accepted: true } | { accepted: false; code: string; message: string; retry: boolean; requeued?: boolean }

/** A result taken. */
export const ACCEPTED: Verdict = { accepted: true }

/** A result refused: `retry` when sending it again later may succeed. */
export function refused(code: string, message: string, retry = false): Verdict {
  return { accepted: false, code, message, retry }
}

/** The refusal of a result that came before the coordinator could check another. */
export const BUSY = refused('busy', 'too many results to check at once: send it again in a moment', true)

/**
 * Why a result's receipt is not acceptable, or undefined when it is signed with `key` (the
 * worker's pinned key) and matches the report. Costs milliseconds: check the cheap things first.
 */
export function receiptProblem(
  key: string | null | undefined,
  workerId: string,
  msg: Result,
): string | undefined {
  if (!key) return 'the worker has no pinned key'
  const body = verifyReceipt(msg.receipt, key)
  if (!body) return 'the receipt signature does not verify against the worker key'
  const same =
    body.jobId === msg.lease.jobId &&
    body.attempt === msg.lease.attempt &&
    body.workerId === workerId &&
    body.outcome === msg.outcome &&
    body.exitCode === msg.exitCode &&
    body.durationMs === msg.durationMs &&
    body.outputsSha256 === (msg.outputs?.sha256 ?? null) &&
    (body.cpuMs ?? null) === msg.usage.cpuMs &&
    (body.peakMemoryBytes ?? null) === msg.usage.peakMemoryBytes
  return same ? undefined : 'the receipt does not match the reported result'
}

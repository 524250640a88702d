import { parseReceiptBody } from '../protocol/receipt'
import { inlineSignatures, type SignatureCheck } from './receipt-checker'
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

const UNSIGNED = 'the receipt signature does not verify against the worker key'

/**
 * Why a result's receipt is not acceptable, or undefined when it is signed with `key` (the
 * worker's pinned key) and matches the report. The signature is checked by `signatures` (the
 * coordinator's receipt thread); the body is read only once it verified.
 */
export async function receiptProblem(
  key: string | null | undefined,
  workerId: string,
  msg: Result,
  signatures: SignatureCheck = inlineSignatures,
): Promise<string | undefined> {
  if (!key) return 'the worker has no pinned key'
  if (!(await signatures.check(msg.receipt.body, msg.receipt.signature, key))) return UNSIGNED
  // Signed, yet not a receipt: refused in the same words as before the check moved to a thread.
  const body = parseReceiptBody(msg.receipt.body)
  if (!body) return UNSIGNED
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

import { GridError } from '../errors'
import type { ReceiptFile } from '../protocol/receipt'
import type { AttemptRow, JobRow, Store } from './store'

/** The attempt a job's receipt comes from: the last one whose result a worker signed. */
export function signedAttempt(attempts: readonly AttemptRow[]): AttemptRow | undefined {
  return attempts.findLast((a) => a.receipt !== null && a.signature !== null)
}

/**
 * A job's receipt as `gridx verify` reads it (the API's `/receipt` and the dashboard's
 * `receipt.json`); 404 `no_receipt` until a worker with a known key has signed its result.
 */
export async function receiptOf(store: Store, job: Pick<JobRow, 'id' | 'state'>): Promise<ReceiptFile> {
  const a = signedAttempt(await store.leases.attemptsOf(job.id))
  const worker = a ? await store.workers.get(a.workerId) : undefined
  if (!a?.receipt || !a.signature || !worker?.publicKey) {
    throw new GridError('no_receipt', `job ${job.id} has no signed result yet (state: ${job.state})`, {
      status: 404,
    })
  }
  return {
    body: a.receipt,
    signature: a.signature,
    workerId: worker.id,
    worker: worker.name,
    publicKey: worker.publicKey,
  }
}

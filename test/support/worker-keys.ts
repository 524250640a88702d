import { createHash } from 'node:crypto'
import { newSigningKey, type ReceiptBody, signReceipt, type SigningKey } from '../../src/protocol/receipt'
import type { LeaseRef, WorkerMessage } from '../../src/protocol/worker'

/** A worker's `job.result` message. */
export type JobResult = Extract<WorkerMessage, { type: 'job.result' }>

/** What a test may change in a result report (everything but its type, lease and receipt). */
export type ResultFields = Partial<Omit<JobResult, 'type' | 'lease' | 'receipt'>>

/** A worker as tests play it: its id and its Ed25519 signing key. */
export interface TestWorker {
  id: string
  key: SigningKey
}

/** SHA-256 of no output, the digest a job that printed nothing reports. */
export const EMPTY_SHA256 = createHash('sha256').digest('hex')

/** A worker id with a fresh signing key. */
export function testWorker(id: string): TestWorker {
  return { id, key: newSigningKey() }
}

/**
 * A result report for `lease` by worker `workerId` and the receipt body that matches it, not yet
 * signed: `body` overrides fields of the body only (to forge mismatches).
 */
export function unsignedResult(
  workerId: string,
  lease: LeaseRef,
  fields: ResultFields = {},
  body: Partial<ReceiptBody> = {},
): { report: Omit<JobResult, 'type' | 'lease' | 'receipt'>; body: ReceiptBody } {
  const report = {
    outcome: 'exited',
    exitCode: 0,
    error: null,
    retryable: false,
    durationMs: 100,
    usage: { cpuMs: null, peakMemoryBytes: null },
    outputs: null,
    ...fields,
  } satisfies ResultFields
  const signed: ReceiptBody = {
    v: 1,
    jobId: lease.jobId,
    attempt: lease.attempt,
    workerId,
    outcome: report.outcome,
    exitCode: report.exitCode,
    stdoutSha256: EMPTY_SHA256,
    stderrSha256: EMPTY_SHA256,
    outputsSha256: null,
    durationMs: report.durationMs,
    cpus: 1,
    memoryBytes: 64 * 1024 * 1024,
    finishedAt: new Date(0).toISOString(),
    ...body,
  }
  return { report, body: signed }
}

/**
 * A `job.result` for `lease` reported by `worker`, with a receipt signed by its key over a body
 * that matches the report. `body` overrides fields of the signed body only (to forge mismatches).
 */
export function signedResult(
  worker: TestWorker,
  lease: LeaseRef,
  fields: ResultFields = {},
  body: Partial<ReceiptBody> = {},
): JobResult {
  const { report, body: signed } = unsignedResult(worker.id, lease, fields, body)
  return { type: 'job.result', lease, ...report, receipt: signReceipt(signed, worker.key) }
}

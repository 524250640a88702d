import { describe, expect, test } from 'bun:test'
import { nativeSignedResult, withNativeKey } from '../../bench/sim-sign'
import { verifyReceipt } from '../../src/protocol/receipt'
import { signedResult, testWorker } from '../support/worker-keys'

describe("the dispatch bench's native signing", () => {
  test('makes the very results tweetnacl makes, signature included', () => {
    for (let i = 0; i < 20; i++) {
      const w = testWorker(`bench-sign-${i}`)
      const lease = { jobId: `job-${i}-${crypto.randomUUID()}`, attempt: 1 + (i % 3) }
      const fields = { durationMs: i }
      const native = nativeSignedResult(withNativeKey(w), lease, fields)
      expect(native).toEqual(signedResult(w, lease, fields))
      expect(verifyReceipt(native.receipt, w.key.publicKey)?.jobId).toBe(lease.jobId)
    }
  })
})

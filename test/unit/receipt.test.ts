import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import {
  newSigningKey,
  type ReceiptBody,
  signReceipt,
  verifyReceipt,
  verifySignature,
} from '../../src/protocol/receipt'

const body: ReceiptBody = {
  v: 1,
  jobId: 'job-1',
  attempt: 1,
  workerId: 'worker-1',
  outcome: 'exited',
  exitCode: 0,
  stdoutSha256: 'a'.repeat(64),
  stderrSha256: 'b'.repeat(64),
  outputsSha256: null,
  durationMs: 1000,
  cpus: 1,
  memoryBytes: 64 * 1024 ** 2,
  finishedAt: new Date(0).toISOString(),
}

describe('receipts: signed with tweetnacl, checked with native Ed25519', () => {
  test('a receipt verifies with its key only, and a changed body or signature does not', () => {
    const key = newSigningKey()
    const r = signReceipt(body, key)
    expect(verifyReceipt(r, key.publicKey)).toEqual(body)
    expect(verifyReceipt(r, newSigningKey().publicKey)).toBeUndefined()
    expect(verifyReceipt({ ...r, body: r.body.replace('job-1', 'job-2') }, key.publicKey)).toBeUndefined()
    expect(verifyReceipt({ ...r, signature: 'AAAA' }, key.publicKey)).toBeUndefined()
    expect(verifyReceipt(r, 'not a key')).toBeUndefined()
  })

  test('the native check agrees with tweetnacl on flipped bits of signature, key and body, and on the intact one', () => {
    const key = newSigningKey()
    const r = signReceipt(body, key)
    const parts = {
      sig: Buffer.from(r.signature, 'base64'),
      pk: Buffer.from(key.publicKey, 'base64'),
      msg: Buffer.from(r.body),
    }
    expect(verifySignature(parts.msg, parts.sig, parts.pk)).toBe(true)
    fc.assert(
      fc.property(
        fc.constantFrom('sig', 'pk', 'msg'),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (part, at, bit) => {
          const bytes = {
            sig: Buffer.from(parts.sig),
            pk: Buffer.from(parts.pk),
            msg: Buffer.from(parts.msg),
          }
          const b = bytes[part]
          b[at % b.length]! ^= 1 << bit
          expect(verifySignature(bytes.msg, bytes.sig, bytes.pk)).toBe(
            nacl.sign.detached.verify(bytes.msg, bytes.sig, bytes.pk),
          )
        },
      ),
      { numRuns: 300 },
    )
  })
})

// Native Ed25519 signing for the simulated workers: tweetnacl's pure JavaScript takes about a
// millisecond a signature, enough to make the bench's own workers the bottleneck at thousands of
// jobs per second. node:crypto (native in Bun) makes the very same signatures, since Ed25519 is
// deterministic (RFC 8032): the coordinator cannot tell them apart (test/unit/bench-sign.test.ts).
import { createPrivateKey, type KeyObject, sign } from 'node:crypto'
import type { LeaseRef } from '../src/protocol/worker'
import {
  type JobResult,
  type ResultFields,
  type TestWorker,
  unsignedResult,
} from '../test/support/worker-keys'

/** DER of an Ed25519 PKCS#8 PrivateKeyInfo before its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** The runtime's key for a tweetnacl secret key (base64 of seed || public key, 64 bytes). */
export function nativeKey(secretKey: string): KeyObject {
  const seed = Buffer.from(secretKey, 'base64').subarray(0, 32)
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

/** A worker whose results are signed natively. */
export interface NativeWorker extends TestWorker {
  native: KeyObject
}

/** `worker` with its native key. */
export function withNativeKey(worker: TestWorker): NativeWorker {
  return { ...worker, native: nativeKey(worker.key.secretKey) }
}

/**
 * The `job.result` test/support/worker-keys.ts `signedResult` makes for the same arguments, byte
 * for byte, signed with the runtime's Ed25519.
 */
export function nativeSignedResult(
  worker: NativeWorker,
  lease: LeaseRef,
  fields: ResultFields = {},
): JobResult {
  const { report, body } = unsignedResult(worker.id, lease, fields)
  const text = JSON.stringify(body)
  const signature = sign(null, Buffer.from(text), worker.native).toString('base64')
  return { type: 'job.result', lease, ...report, receipt: { body: text, signature } }
}

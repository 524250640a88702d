import nacl from 'tweetnacl'
import { z } from 'zod'
import { verifySigned } from './ed25519'

export { verifySignature, verifySigned } from './ed25519'

/** What a worker signs when it reports a result: enough to check the result and the bill later. */
export const ReceiptBody = z.object({
  v: z.literal(1),
  jobId: z.string(),
  attempt: z.int().min(1),
  workerId: z.string(),
  outcome: z.string(),
  exitCode: z.int().nullable(),
  stdoutSha256: z.string().regex(/^[0-9a-f]{64}$/),
  stderrSha256: z.string().regex(/^[0-9a-f]{64}$/),
  outputsSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  durationMs: z.number().min(0),
  /** CPU time and peak memory the job used, when the engine reported them. */
  cpuMs: z.number().min(0).nullable().optional(),
  peakMemoryBytes: z.number().min(0).nullable().optional(),
  cpus: z.number(),
  memoryBytes: z.number(),
  finishedAt: z.string(),
})
export type ReceiptBody = z.infer<typeof ReceiptBody>

/** A signed receipt: the exact JSON text that was signed, and an Ed25519 signature over it (base64). */
export const Receipt = z.object({ body: z.string(), signature: z.string() })
export type Receipt = z.infer<typeof Receipt>

/** A receipt as `gridx status --receipt` prints it: self-contained for offline checking. */
export const ReceiptFile = Receipt.extend({ workerId: z.string(), worker: z.string(), publicKey: z.string() })
export type ReceiptFile = z.infer<typeof ReceiptFile>

/** A worker's signing key pair, base64. */
export interface SigningKey {
  publicKey: string
  secretKey: string
}

/** Makes a new Ed25519 key pair. */
export function newSigningKey(): SigningKey {
  const kp = nacl.sign.keyPair()
  return {
    publicKey: Buffer.from(kp.publicKey).toString('base64'),
    secretKey: Buffer.from(kp.secretKey).toString('base64'),
  }
}

/** Signs a receipt body. */
export function signReceipt(body: ReceiptBody, key: SigningKey): Receipt {
  const text = JSON.stringify(body)
  const sig = nacl.sign.detached(new TextEncoder().encode(text), Buffer.from(key.secretKey, 'base64'))
  return { body: text, signature: Buffer.from(sig).toString('base64') }
}

/** Checks a receipt's signature against a public key; returns the parsed body, or undefined when it does not verify. */
export function verifyReceipt(receipt: Receipt, publicKey: string): ReceiptBody | undefined {
  return verifySigned(receipt.body, receipt.signature, publicKey) ? parseReceiptBody(receipt.body) : undefined
}

/** A signed receipt body's text, parsed; undefined when it is not one (check the signature first). */
export function parseReceiptBody(text: string): ReceiptBody | undefined {
  try {
    const parsed = ReceiptBody.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

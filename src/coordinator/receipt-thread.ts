// The coordinator's receipt thread (a Bun Worker started by receipt-checker.ts): it checks the
// Ed25519 signatures of results in batches, so the main thread, the coordinator's bottleneck,
// spends its time dispatching. It loads only the native check (no zod, no tweetnacl).
// scripts/build.ts compiles this file into the binary as an entry point of its own.
import { verifySigned } from '../protocol/ed25519'

/** Checks asked in one turn of the main thread's event loop: (body, signature, public key) triples, flat. */
export interface CheckBatch {
  id: number
  checks: string[]
}

/** The answer to a batch: whether each triple's signature verified, in order. */
export interface CheckAnswer {
  id: number
  ok: boolean[]
}

declare const self: Worker

self.onmessage = (e: MessageEvent<CheckBatch>) => {
  const { id, checks } = e.data
  const ok = new Array<boolean>(Math.floor(checks.length / 3))
  for (let i = 0; i < ok.length; i++)
    ok[i] = verifySigned(checks[3 * i]!, checks[3 * i + 1]!, checks[3 * i + 2]!)
  self.postMessage({ id, ok } satisfies CheckAnswer)
}

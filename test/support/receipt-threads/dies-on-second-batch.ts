// A receipt thread that answers its first batch truly and exits, unanswered, at the second:
// a thread dying with checks in flight (test/unit/receipt-checker.test.ts).
import { verifySigned } from '../../../src/protocol/ed25519'
import type { CheckBatch } from '../../../src/coordinator/receipt-thread'

declare const self: Worker
let batches = 0

self.onmessage = (e: MessageEvent<CheckBatch>) => {
  if (++batches > 1) process.exit(1)
  const { id, checks } = e.data
  const ok: boolean[] = []
  for (let i = 0; i < checks.length; i += 3) ok.push(verifySigned(checks[i]!, checks[i + 1]!, checks[i + 2]!))
  self.postMessage({ id, ok })
}

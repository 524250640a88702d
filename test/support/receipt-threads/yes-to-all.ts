// A receipt thread that says every signature verifies: shows which answers came from a thread.
import type { CheckBatch } from '../../../src/coordinator/receipt-thread'

declare const self: Worker
self.onmessage = (e: MessageEvent<CheckBatch>) =>
  self.postMessage({ id: e.data.id, ok: new Array<boolean>(e.data.checks.length / 3).fill(true) })

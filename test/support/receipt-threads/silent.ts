// A receipt thread that takes batches and never answers (test/unit/receipt-checker.test.ts).
declare const self: Worker
self.onmessage = () => undefined

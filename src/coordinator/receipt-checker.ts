// Receipt signatures checked on a thread of their own (receipt-thread.ts). The checks asked in one
// turn of the event loop go to the thread as one message and come back as one; whatever goes
// wrong with the thread (it cannot start, dies, or is slow to answer), the checks are made on the
// main thread instead, so a result is never lost or left waiting.
import { verifySigned } from '../protocol/ed25519'
import type { CheckAnswer, CheckBatch } from './receipt-thread'

/** Checks a receipt's Ed25519 signature: the signed text, the signature and the public key (base64). */
export interface SignatureCheck {
  check(body: string, signatureB64: string, publicKeyB64: string): Promise<boolean>
}

/** The check made at once on the calling thread (tests, and the fallback of the thread). */
export const inlineSignatures: SignatureCheck = {
  check: (body, signatureB64, publicKeyB64) =>
    Promise.resolve(verifySigned(body, signatureB64, publicKeyB64)),
}

/** How a receipt thread is run. */
export interface ReceiptThreadOptions {
  /** Where its failures are told (once until it works again). */
  log: (line: string) => void
  /** A batch not answered within this is checked on the main thread, and the thread restarted. */
  answerMs?: number
  /** After a failure, checks stay on the main thread this long before the thread is tried again. */
  restartMs?: number
  /** The thread's entry (tests give threads that fail); the coordinator's own by default. */
  entry?: string
}

/**
 * The thread's entry: beside this file when run from source; in the compiled binary, by its path
 * from the repository (scripts/build.ts compiles it in so), in Bun's own file system.
 */
const ENTRY = /\/\$bunfs\/|\/~BUN\//.test(import.meta.url)
  ? './src/coordinator/receipt-thread.ts'
  : new URL('./receipt-thread.ts', import.meta.url).href

interface Batch {
  id: number
  /** (body, signature, key) triples, flat: sent as they are. */
  checks: string[]
  /** Who waits for each triple's answer, in order. */
  answers: ((ok: boolean) => void)[]
  timer: ReturnType<typeof setTimeout> | undefined
}

function checkHere(batch: Batch): void {
  const { checks, answers } = batch
  for (let i = 0; i < answers.length; i++)
    answers[i]!(verifySigned(checks[3 * i]!, checks[3 * i + 1]!, checks[3 * i + 2]!))
}

/** Signature checks on one thread, started at the first check; `stop` ends it and settles every check. */
export class ReceiptThread implements SignatureCheck {
  private thread: Worker | undefined
  /** The batch of this turn, sent when the turn ends. */
  private gathering: Batch | undefined
  private readonly sent = new Map<number, Batch>()
  private lastId = 0
  /** No thread is started before this (`performance.now()`): one failed not long ago. */
  private downUntil = 0
  /** A failure was logged and the thread has not answered since: the next is not logged. */
  private quiet = false
  private stopped = false
  private readonly answerMs: number
  private readonly restartMs: number
  private readonly entry: string

  constructor(private readonly opts: ReceiptThreadOptions) {
    this.answerMs = opts.answerMs ?? 5_000
    this.restartMs = opts.restartMs ?? 30_000
    this.entry = opts.entry ?? ENTRY
  }

  /** Whether the signature verifies; answered by the thread, or here when it cannot be. */
  check(body: string, signatureB64: string, publicKeyB64: string): Promise<boolean> {
    if (this.stopped || (!this.thread && performance.now() < this.downUntil))
      return Promise.resolve(verifySigned(body, signatureB64, publicKeyB64))
    let batch = this.gathering
    if (!batch) {
      batch = this.gathering = { id: ++this.lastId, checks: [], answers: [], timer: undefined }
      setImmediate(this.send)
    }
    batch.checks.push(body, signatureB64, publicKeyB64)
    const answers = batch.answers
    return new Promise((resolve) => answers.push(resolve))
  }

  /** Ends the thread; checks still waiting are made here, and later ones too. */
  stop(): void {
    this.stopped = true
    const thread = this.thread
    this.thread = undefined
    thread?.terminate()
    this.checkAllHere()
  }

  private readonly send = (): void => {
    const batch = this.gathering
    this.gathering = undefined
    if (!batch) return
    const thread = this.stopped ? undefined : this.running()
    if (!thread) return checkHere(batch)
    this.sent.set(batch.id, batch)
    batch.timer = setTimeout(() => {
      if (this.sent.has(batch.id) && this.thread === thread)
        this.down(thread, `did not answer within ${this.answerMs} ms`)
    }, this.answerMs)
    try {
      thread.postMessage({ id: batch.id, checks: batch.checks } satisfies CheckBatch)
    } catch (err) {
      this.down(thread, `could not be sent a batch (${String(err)})`)
    }
  }

  /** The thread, started if there is none (and none failed not long ago). */
  private running(): Worker | undefined {
    if (this.thread) return this.thread
    if (performance.now() < this.downUntil) return undefined
    let thread: Worker
    try {
      thread = new Worker(this.entry, { name: 'gridx-receipts' })
    } catch (err) {
      this.failed(`could not start (${String(err)})`)
      return undefined
    }
    thread.addEventListener('message', (e: MessageEvent<CheckAnswer>) => this.answered(e.data))
    thread.addEventListener('error', (e: ErrorEvent) => this.down(thread, `failed (${e.message})`))
    thread.addEventListener('close', () => this.down(thread, 'stopped'))
    // The coordinator's sockets keep the process alive, never this thread.
    thread.unref()
    this.thread = thread
    return thread
  }

  private answered(answer: CheckAnswer): void {
    const batch = this.sent.get(answer.id)
    // A batch already checked here (the thread was late, or failed meanwhile).
    if (!batch) return
    this.sent.delete(answer.id)
    clearTimeout(batch.timer)
    const { ok } = answer
    if (ok.length !== batch.answers.length) return checkHere(batch)
    for (let i = 0; i < ok.length; i++) batch.answers[i]!(ok[i] === true)
    this.quiet = false
  }

  /** `thread` failed: if it is still the one in use, its checks are made here and it is ended. */
  private down(thread: Worker, why: string): void {
    if (thread !== this.thread) return
    this.thread = undefined
    thread.terminate()
    this.failed(why)
    this.checkAllHere()
  }

  private failed(why: string): void {
    this.downUntil = performance.now() + this.restartMs
    if (this.quiet) return
    this.quiet = true
    this.opts.log(
      `receipt signatures are checked on the main thread for now: the receipt thread ${why}; it is tried again in ${Math.round(this.restartMs / 1000)} s`,
    )
  }

  private checkAllHere(): void {
    for (const batch of this.sent.values()) {
      clearTimeout(batch.timer)
      checkHere(batch)
    }
    this.sent.clear()
    const gathering = this.gathering
    this.gathering = undefined
    if (gathering) checkHere(gathering)
  }
}

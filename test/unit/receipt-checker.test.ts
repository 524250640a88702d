import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { ReceiptThread, type ReceiptThreadOptions } from '../../src/coordinator/receipt-checker'
import { newSigningKey, signReceipt } from '../../src/protocol/receipt'
import { unsignedResult } from '../support/worker-keys'

// The receipt thread, real (a Bun Worker): answers, batching, and the fallbacks when it fails.

const key = newSigningKey()
const other = newSigningKey()

/** A receipt signed by `key`, different for each `n`. */
function signed(n: number) {
  return signReceipt(unsignedResult('worker-rc', { jobId: `job-${n}`, attempt: 1 }).body, key)
}

/** Check `n`: good when `n % 3 === 0`, a tampered body when 1, the wrong key when 2. */
function ask(t: ReceiptThread, n: number): Promise<boolean> {
  const r = signed(n)
  if (n % 3 === 1) return t.check(r.body.replace(`job-${n}`, `job-x${n}`), r.signature, key.publicKey)
  return t.check(r.body, r.signature, n % 3 === 0 ? key.publicKey : other.publicKey)
}
const expected = (ns: number[]) => ns.map((n) => n % 3 === 0)
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i)

const fixture = (name: string) => new URL(`../support/receipt-threads/${name}.ts`, import.meta.url).href

let threads: ReceiptThread[] = []
afterEach(() => {
  for (const t of threads) t.stop()
  threads = []
})

function start(opts: Partial<ReceiptThreadOptions> = {}) {
  const logs: string[] = []
  const t = new ReceiptThread({ log: (l) => logs.push(l), ...opts })
  threads.push(t)
  return { t, logs }
}

/** How many threads of this process bear the receipt thread's name (Bun names a Worker's thread after it). */
function receiptThreads(): number {
  const tasks = readdirSync('/proc/self/task')
  return tasks.filter((id) => {
    try {
      return readFileSync(`/proc/self/task/${id}/comm`, 'utf8').trim() === 'gridx-receipts'
    } catch {
      return false // ended meanwhile
    }
  }).length
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await Bun.sleep(10)
  }
}

describe('the receipt thread', () => {
  test('a good signature verifies; a changed body, a wrong key or a malformed signature does not', async () => {
    const { t, logs } = start()
    const r = signed(0)
    expect(await t.check(r.body, r.signature, key.publicKey)).toBe(true)
    expect(await ask(t, 1)).toBe(false)
    expect(await ask(t, 2)).toBe(false)
    expect(await t.check(r.body, 'AAAA', key.publicKey)).toBe(false)
    expect(await t.check(r.body, r.signature, 'not a key')).toBe(false)
    expect(logs).toEqual([])
    // (at least: a thread it starts bears its name until it names itself, as Linux threads do)
    expect(receiptThreads()).toBeGreaterThan(0)
  })

  test('checks asked in one turn go as one message and are answered in order', async () => {
    const { t, logs } = start()
    await ask(t, 0) // started
    const post = spyOn(Worker.prototype, 'postMessage')
    try {
      const ns = range(0, 300)
      expect(await Promise.all(ns.map((n) => ask(t, n)))).toEqual(expected(ns))
      expect(post).toHaveBeenCalledTimes(1)
      expect((post.mock.calls[0]![0] as { checks: string[] }).checks).toHaveLength(900)
      // the next turn's checks are the next message
      expect(await Promise.all(range(300, 7).map((n) => ask(t, n)))).toEqual(expected(range(300, 7)))
      expect(post).toHaveBeenCalledTimes(2)
    } finally {
      post.mockRestore()
    }
    expect(logs).toEqual([])
  })

  test('the answers are the thread’s (a thread that says yes to everything is believed)', async () => {
    const { t } = start({ entry: fixture('yes-to-all') })
    expect(await Promise.all(range(0, 6).map((n) => ask(t, n)))).toEqual(new Array<boolean>(6).fill(true))
  })

  test('a thread that dies with checks in flight: they are answered here, logged once, and it is restarted', async () => {
    const { t, logs } = start({ entry: fixture('dies-on-second-batch'), restartMs: 300 })
    const post = spyOn(Worker.prototype, 'postMessage')
    try {
      expect(await Promise.all(range(0, 9).map((n) => ask(t, n)))).toEqual(expected(range(0, 9)))
      expect(logs).toEqual([])
      // the second batch kills the thread: every check in it is still answered, rightly
      expect(await Promise.all(range(9, 30).map((n) => ask(t, n)))).toEqual(expected(range(9, 30)))
      expect(logs).toHaveLength(1)
      expect(logs[0]).toContain('receipt signatures are checked on the main thread for now')
      // meanwhile checks are made here, without a thread and without another line
      const sent = post.mock.calls.length
      expect(await Promise.all(range(40, 5).map((n) => ask(t, n)))).toEqual(expected(range(40, 5)))
      expect(post.mock.calls.length).toBe(sent)
      expect(logs).toHaveLength(1)
      // after restartMs a new thread answers again
      await Bun.sleep(400)
      expect(await Promise.all(range(50, 4).map((n) => ask(t, n)))).toEqual(expected(range(50, 4)))
      expect(post.mock.calls.length).toBe(sent + 1)
      expect(logs).toHaveLength(1)
    } finally {
      post.mockRestore()
    }
  })

  test('a thread that does not answer in time: its checks are answered here', async () => {
    const { t, logs } = start({ entry: fixture('silent'), answerMs: 300 })
    expect(await Promise.all(range(0, 12).map((n) => ask(t, n)))).toEqual(expected(range(0, 12)))
    expect(logs).toHaveLength(1)
    expect(logs[0]).toContain('the receipt thread did not answer within 300 ms')
    await until(() => receiptThreads() === 0, 'the silent thread is ended')
  })

  test('a thread that cannot start: checks are answered here, and its retries fail without another line', async () => {
    const { t, logs } = start({ entry: '/nonexistent/receipt-thread.ts', restartMs: 50 })
    expect(await Promise.all(range(0, 6).map((n) => ask(t, n)))).toEqual(expected(range(0, 6)))
    expect(logs).toHaveLength(1)
    expect(logs[0]).toContain('the receipt thread')
    for (let round = 0; round < 3; round++) {
      await Bun.sleep(100)
      expect(await Promise.all(range(6, 4).map((n) => ask(t, n)))).toEqual(expected(range(6, 4)))
    }
    expect(logs).toHaveLength(1)
  })

  test('stop settles the checks waiting (sent or not yet), ends the thread, and later checks still answer', async () => {
    const { t } = start({ entry: fixture('silent'), answerMs: 60_000 })
    const sent = range(0, 6).map((n) => ask(t, n))
    await Bun.sleep(50) // the batch went to the thread, which keeps it
    await until(() => receiptThreads() > 0, 'the thread runs')
    const gathering = range(6, 6).map((n) => ask(t, n))
    t.stop()
    expect(await Promise.all([...sent, ...gathering])).toEqual(expected(range(0, 12)))
    expect(await ask(t, 12)).toBe(true)
    expect(await ask(t, 13)).toBe(false)
    await until(() => receiptThreads() === 0, 'the thread is ended')
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { newSigningKey } from '../../src/protocol/receipt'
import { connect, hello, type RawWorker } from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'
import { type Grid, startGrid } from './harness'

// The compiled binary checks results' receipts on its receipt thread (src/coordinator/receipt-checker.ts):
// the thread's entry is compiled in (scripts/build.ts) and starts there, not only from source.

let grid: Grid
let token: string
beforeAll(async () => {
  grid = await startGrid()
  const base = `http://127.0.0.1:${grid.httpPort}`
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  await post('/api/auth/register', { user: 'alice', password: 'password-123' })
  const res = await post('/api/auth/login', { user: 'alice', password: 'password-123' })
  token = ((await res.json()) as { token: string }).token
})
afterAll(() => grid.close())

async function submit(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${grid.httpPort}/api/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      image: 'img',
      command: ['true'],
      timeoutMs: 60_000,
      cpus: 1,
      memoryBytes: 64 << 20,
    }),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: string }).id
}

/** The names of the threads of process `pid` (Bun names a Worker's thread after it). */
function threadNames(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()
    } catch {
      return '' // ended meanwhile
    }
  })
}

describe('gridx serve checks receipts on its receipt thread', () => {
  test('signed results are taken, a forged one refused, by the thread inside the binary', async () => {
    const w = testWorker('e2e-receipt-thread')
    const c: RawWorker = connect(grid.wsPort, token)
    expect(await c.opened).toBe(true)
    c.send(hello(w))
    await c.next('welcome', 15_000)
    const run = async () => {
      const id = await submit()
      const { job } = await c.next('job.assign', 15_000)
      expect(job.jobId).toBe(id)
      const lease = { jobId: id, attempt: 1 }
      c.send({ type: 'job.started', lease })
      return lease
    }
    for (let i = 0; i < 3; i++) {
      const lease = await run()
      c.send(signedResult(w, lease))
      expect(await c.next('job.ack', 15_000)).toMatchObject({ lease })
    }
    const lease = await run()
    c.send(signedResult({ id: w.id, key: newSigningKey() }, lease))
    expect(await c.next('job.refused', 15_000)).toMatchObject({ lease, code: 'bad_receipt', retry: false })
    c.send(signedResult(w, lease))
    expect(await c.next('job.ack', 15_000)).toMatchObject({ lease })
    // the thread is there, and never had to hand its checks to the main thread
    expect(threadNames(grid.serve.proc.pid)).toContain('gridx-receipts')
    // (the log is written a moment later)
    await grid.serve.waitFor(
      /refused the result .* the receipt signature does not verify against the worker key/,
    )
    expect(grid.serve.stderr() + grid.serve.stdout()).not.toContain('checked on the main thread')
    c.ws.close()
    // and it is no reason for the coordinator not to stop
    expect(await grid.serve.stop()).toBe(0)
  })
})

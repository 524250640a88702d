import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, hello, type RawWorker } from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'
import { type Grid, gridx, BB_IMAGE, startGrid } from './harness'

// `gridx serve --log-format json` through the compiled binary: a job's life parsed from its stdout.
// The worker is a raw protocol client (as in the dispatch bench), so the test needs no Docker.

let grid: Grid
let alice: Record<string, string>

beforeAll(async () => {
  grid = await startGrid(['--log-format', 'json', '--log-requests'])
  alice = await grid.user('alice')
})
afterAll(async () => {
  await grid.close()
})

type Line = Record<string, unknown> & { event: string }

/** The coordinator's stdout so far, each line parsed: every one must be a JSON object. */
const lines = (): Line[] =>
  grid.serve
    .stdout()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line)

/** A worker of alice's on the raw protocol, named `raw`. */
async function rawWorker(id: string): Promise<{ w: RawWorker; key: ReturnType<typeof testWorker> }> {
  const res = await fetch(`http://127.0.0.1:${grid.httpPort}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'alice', password: 'password-123' }),
  })
  const { token } = (await res.json()) as { token: string }
  const key = testWorker(id)
  const w = connect(grid.wsPort, token)
  expect(await w.opened).toBe(true)
  w.send(hello(key))
  await w.next('welcome')
  return { w, key }
}

/** Submits a job, plays the worker through it and returns the job's id. */
async function runJob(w: RawWorker, key: ReturnType<typeof testWorker>): Promise<string> {
  const d = await gridx(['submit', '--detach', '--image', BB_IMAGE, '--', 'echo', 'logged'], alice)
  expect(d.code).toBe(0)
  const assign = await w.next('job.assign', 30_000)
  const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
  w.send({ type: 'job.started', lease })
  w.send(signedResult(key, lease, { durationMs: 5 }))
  await w.next('job.ack', 30_000)
  return d.stdout.trim()
}

describe('gridx serve --log-format json', () => {
  test("a job's life can be read back from stdout, with its user and worker", async () => {
    const { w, key } = await rawWorker('w-e2e-log-0001')
    const job = await runJob(w, key)
    const mine = () => lines().filter((l) => l.event === 'job' && l['job'] === job)
    const deadline = Date.now() + 30_000
    while (!mine().some((l) => l['to'] === 'succeeded') && Date.now() < deadline) await Bun.sleep(50)
    expect(mine().map((l) => l['to'])).toEqual(['queued', 'assigned', 'running', 'succeeded'])
    expect(mine().every((l) => l['user'] === 'alice')).toBe(true)
    expect(
      mine()
        .slice(1)
        .every((l) => l['worker'] === 'raw' && l['attempt'] === 1),
    ).toBe(true)
    expect(mine()[3]).toMatchObject({ from: 'running', outcome: 'exited', level: 'info' })

    w.ws.close(4002, 'e2e worker leaves')
    while (
      !lines().some((l) => l.event === 'worker' && l['state'] === 'disconnected') &&
      Date.now() < deadline
    )
      await Bun.sleep(50)
    const all = lines()
    expect(all.find((l) => l.event === 'start')).toMatchObject({
      engine: 'sqlite',
      tls: false,
      signup: 'invite',
    })
    expect(all.find((l) => l.event === 'worker')).toMatchObject({
      state: 'connected',
      worker: 'raw',
      owner: 'alice',
    })
    expect(all.find((l) => l.event === 'worker' && l['state'] === 'disconnected')).toMatchObject({
      code: 4002,
      reason: 'e2e worker leaves',
    })
    expect(all.some((l) => l.event === 'request' && l['path'] === '/api/jobs' && l['status'] === 201)).toBe(
      true,
    )
  })

  test('the default is text: the same job line for people, key=value', async () => {
    await grid.restart(undefined, undefined, [])
    const { w, key } = await rawWorker('w-e2e-log-0002')
    const id = await runJob(w, key)
    await grid.serve.waitFor(
      new RegExp(`INFO job job=${id} attempt=1 user=alice worker=raw from=running to=succeeded`),
      30_000,
    )
    expect(grid.serve.stdout()).toMatch(/^\S+Z INFO start version=\S+ host=127\.0\.0\.1 /m)
    // No request lines without --log-requests.
    expect(grid.serve.stdout()).not.toContain(' request ')
    w.ws.close()
  })
})

import { afterEach, describe, expect, test } from 'bun:test'
import { WorkerView } from '../../src/protocol/api'
import type { LeaseRef } from '../../src/protocol/worker'
import {
  connect,
  hello,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { signedResult, type TestWorker, testWorker } from '../support/worker-keys'

// Jobs that need Python packages, over a real coordinator, SQLite and worker sockets: what the
// worker is sent, where such a job may go, and how a failed install ends (never billed).

let current: TestCoordinator | undefined
let bobs: string | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
  bobs = undefined
})

const NEEDS = { requirements: ['Requests<3', 'numpy>=1.26', 'numpy >= 1.26'], requiresPython: '>=3.10' }
const SPEC = {
  image: 'python:3.12-slim',
  command: ['python3', '-c', 'import numpy'],
  timeoutMs: 60_000,
  cpus: 1,
  memoryBytes: 64 * 1024 ** 2,
}

/** Connects a raw worker whose hello says whether it installs packages. */
async function worker(
  t: TestCoordinator,
  w: TestWorker,
  packages: boolean | undefined,
  name = w.id,
): Promise<RawWorker> {
  // Bob's workers: what alice's jobs pay shows up in his account, never back in hers.
  bobs ??= await t.addUser('bob')
  const c = connect(t.coord.wsPort, bobs)
  if (!(await c.opened)) throw new Error('the worker socket did not open')
  const h = hello(w) as Extract<ReturnType<typeof hello>, { type: 'hello' }>
  c.send({ ...h, name, policy: { ...h.policy, ...(packages === undefined ? {} : { packages }) } })
  await c.next('welcome')
  return c
}

async function submit(t: TestCoordinator, body: Record<string, unknown>): Promise<string> {
  const res = await t.post('/api/jobs', body, t.token)
  if (res.status !== 201) throw new Error(`submit: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { id: string }).id
}

const alice = async (t: TestCoordinator) => (await t.coord.store.accounts.byName('alice'))!
const balance = async (t: TestCoordinator, name = 'alice') =>
  await t.coord.store.credits.of((await t.coord.store.accounts.byName(name))!.id, 1000)

describe('requirements travel with the job', () => {
  test('checked and canonical in the job view and in the JobSpec its worker is sent', async () => {
    const t = (current = await startTestCoordinator())
    const wa = testWorker('worker-pkg-a')
    const a = await worker(t, wa, true)
    const id = await submit(t, { ...SPEC, ...NEEDS })
    const { job } = await a.next('job.assign')
    expect(job).toMatchObject({
      jobId: id,
      requirements: ['numpy>=1.26', 'requests<3'],
      requiresPython: '>=3.10',
    })
    expect(await t.job(id)).toMatchObject({
      requirements: ['numpy>=1.26', 'requests<3'],
      requiresPython: '>=3.10',
    })
    // a job without packages is sent an empty list
    const plain = await submit(t, SPEC)
    a.send(signedResult(wa, { jobId: id, attempt: 1 }))
    const next = await a.next('job.assign')
    expect(next.job).toMatchObject({ jobId: plain, requirements: [], requiresPython: null })
  })

  test('a direct URL, a pip option or a bad requires-python through the raw API is refused 400, nothing stored', async () => {
    const t = (current = await startTestCoordinator())
    const before = { audit: await t.coord.store.credits.audit(), credits: await balance(t) }
    for (const [body, says] of [
      [{ requirements: ['evil @ https://10.0.0.1/evil.whl'] }, 'direct URL'],
      [{ requirements: ['--index-url http://10.0.0.1/simple'] }, 'pip options'],
      [{ requirements: ['../wheels/x.whl'] }, 'local paths'],
      [{ requirements: Array.from({ length: 65 }, (_, i) => `p${i}`) }, ''],
      [{ requirements: ['numpy'], requiresPython: 'python3; rm -rf /' }, 'requires-python'],
    ] as const) {
      const res = await t.post('/api/jobs', { ...SPEC, ...body }, t.token)
      expect(res.status).toBe(400)
      const err = (await res.json()) as { error: { code: string; message: string } }
      expect(err.error.code).toBe('bad_request')
      expect(err.error.message).toContain(says)
    }
    expect(await t.coord.store.queue.jobsOf((await alice(t)).id, 10)).toEqual([])
    expect(await t.coord.store.credits.audit()).toEqual(before.audit)
    expect(await balance(t)).toEqual(before.credits)
  })
})

describe('placement', () => {
  test('a job with packages is never offered to a worker that does not install them, and waiting says why', async () => {
    const t = (current = await startTestCoordinator())
    const wa = testWorker('worker-nopkg')
    const a = await worker(t, wa, false, 'nopkg')
    const old = await worker(t, testWorker('worker-older'), undefined, 'older')
    const views = WorkerView.array().parse(
      await (
        await fetch(`${t.base}/api/workers`, { headers: { authorization: `Bearer ${t.token}` } })
      ).json(),
    )
    expect(views.map((v) => [v.name, v.packages]).sort()).toEqual([
      ['nopkg', false],
      ['older', false],
    ])
    const id = await submit(t, { ...SPEC, ...NEEDS })
    const waiting = (await t.job(id)).waiting
    expect(waiting).toContain('it needs Python packages and no connected worker installs them')
    // both are free and take a job without packages at once: they were passed over, not busy
    const plain = await submit(t, SPEC)
    const taken = await Promise.race([a.next('job.assign'), old.next('job.assign')])
    expect(taken.job.jobId).toBe(plain)
    await Bun.sleep(300)
    expect([...a.got, ...old.got].filter((m) => m.type === 'job.assign')).toEqual([])
    expect((await t.job(id)).state).toBe('queued')
    // a worker that installs packages gets it
    const b = await worker(t, testWorker('worker-pkg-b'), true, 'pkg')
    expect((await b.next('job.assign')).job.jobId).toBe(id)
  })
})

describe('a failed install', () => {
  test("the package's fault (retryable false): failed at once, not billed, the escrow returned, the reason kept", async () => {
    const t = (current = await startTestCoordinator())
    const wa = testWorker('worker-pkg-fail')
    const a = await worker(t, wa, true, 'pkgbox')
    const start = await balance(t)
    const bob = (await balance(t, 'bob')).balance
    const id = await submit(t, { ...SPEC, requirements: ['no-such-package-xyz'] })
    expect((await balance(t)).balance).toBeLessThan(start.balance)
    const { job } = await a.next('job.assign')
    const lease: LeaseRef = { jobId: job.jobId, attempt: job.attempt }
    a.send({ type: 'job.started', lease })
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    await Bun.sleep(250) // time that a billed ending would pay for
    const reason = 'ERROR: No matching distribution found for no-such-package-xyz'
    a.send(
      signedResult(wa, lease, {
        outcome: 'install_failed',
        exitCode: null,
        error: reason,
        retryable: false,
        durationMs: 5000,
      }),
    )
    await a.next('job.ack')
    const view = await t.job(id)
    expect(view).toMatchObject({
      state: 'failed',
      outcome: 'install_failed',
      costMc: 0,
      billedMs: 0,
      exitCode: null,
      attempt: 1,
    })
    expect(view.error).toContain(`could not be installed on worker pkgbox: ${reason}. Nothing was billed.`)
    expect(view.error).toContain('--no-deps')
    // exact: alice has every credit back, nothing is held, the owner of the worker earned nothing
    expect(await balance(t)).toMatchObject({ balance: start.balance, escrow: 0 })
    const audit = await t.coord.store.credits.audit()
    expect(audit).toMatchObject({ ok: true, escrow: 0, negativeAccounts: 0 })
    expect(audit.minted).toBe(audit.balances)
    expect((await balance(t, 'bob')).balance).toBe(bob)
    expect((await balance(t)).history.filter((h) => h.kind === 'pay')).toEqual([])
    // and it is not offered again
    await Bun.sleep(200)
    expect(a.got.filter((m) => m.type === 'job.assign')).toEqual([])
  })

  test("the worker's fault (retryable true): retried on another worker, never the same; failed and unbilled when attempts run out", async () => {
    const t = (current = await startTestCoordinator())
    const start = await balance(t)
    bobs = await t.addUser('bob')
    const bob = (await balance(t, 'bob')).balance
    const ws = [testWorker('worker-idx-1'), testWorker('worker-idx-2'), testWorker('worker-idx-3')]
    const failOn = async (c: RawWorker, w: TestWorker, attempt: number) => {
      const { job } = await c.next('job.assign')
      expect(job.attempt).toBe(attempt)
      const lease = { jobId: job.jobId, attempt: job.attempt }
      c.send(
        signedResult(w, lease, {
          outcome: 'install_failed',
          exitCode: null,
          error: 'index unreachable: connection refused',
          retryable: true,
        }),
      )
      return job.jobId
    }
    const one = await worker(t, ws[0]!, true, 'one')
    const id = await submit(t, { ...SPEC, requirements: ['numpy'] })
    expect(await failOn(one, ws[0]!, 1)).toBe(id)
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'queued', 'the job is requeued')
    // `one` is free and fits, but its install failed: the job waits, saying so
    await Bun.sleep(300)
    expect(one.got.filter((m) => m.type === 'job.assign')).toEqual([])
    const waiting = (await t.job(id)).waiting ?? ''
    expect(waiting).toContain('its packages failed to install on one (')
    expect(waiting).toContain('no other connected worker that installs packages can take it')
    // another job still runs on `one`: it is only this job that avoids it
    const plain = await submit(t, SPEC)
    expect((await one.next('job.assign')).job.jobId).toBe(plain)
    one.send(signedResult(ws[0]!, { jobId: plain, attempt: 1 }))
    await one.next('job.ack')
    // a second worker takes attempt 2 and fails too; it waits again (one attempt left)
    const two = await worker(t, ws[1]!, true, 'two')
    await failOn(two, ws[1]!, 2)
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'queued', 'requeued again')
    expect((await t.coord.store.queue.job(id))?.installFailedOn.sort()).toEqual([ws[0]!.id, ws[1]!.id])
    await Bun.sleep(300)
    expect([...one.got, ...two.got].filter((m) => m.type === 'job.assign')).toEqual([])
    // the third worker's failure uses the last attempt: failed, as an install failure, unbilled
    const three = await worker(t, ws[2]!, true, 'three')
    await failOn(three, ws[2]!, 3)
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'failed', 'the job fails')
    const view = await t.job(id)
    expect(view).toMatchObject({ outcome: 'install_failed', costMc: 0, billedMs: 0, attempt: 3 })
    expect(view.error).toContain(
      'could not be installed on the workers that tried (3 attempts; the last, on worker three',
    )
    const attempts = await t.coord.store.leases.attemptsOf(id)
    expect(attempts.map((a) => [a.workerId, a.outcome])).toEqual([
      [ws[0]!.id, 'install_failed'],
      [ws[1]!.id, 'install_failed'],
      [ws[2]!.id, 'install_failed'],
    ])
    // only the plain job was paid for; this one's escrow came back whole
    const plainCost = (await t.coord.store.queue.job(plain))!.cost ?? 0
    expect(plainCost).toBeGreaterThan(0)
    expect(await balance(t)).toMatchObject({ balance: start.balance - plainCost, escrow: 0 })
    expect((await balance(t, 'bob')).balance).toBe(bob + plainCost)
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true, escrow: 0 })
  })
})

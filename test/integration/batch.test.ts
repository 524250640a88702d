import { afterEach, describe, expect, test } from 'bun:test'
import { ArrayView, JobView, SubmittedArray } from '../../src/protocol/api'
import {
  connect,
  hello,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, type TestWorker, testWorker } from '../support/worker-keys'

// Arrays and dependencies through a real coordinator and a raw worker socket: the %N cap holds
// whatever the free slots, a failed dependency cancels its dependents (refunded, unbilled) down
// the chain, bad dependencies and unaffordable arrays are refused with what is wrong.

const SPEC = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }

let t: TestCoordinator | undefined
afterEach(async () => {
  await t?.stop()
  t = undefined
})

async function worker(c: TestCoordinator, w: TestWorker, slots: number): Promise<RawWorker> {
  const raw = connect(c.coord.wsPort, c.token)
  if (!(await raw.opened)) throw new Error('the worker socket did not open')
  raw.send({ ...hello(w), slots })
  await raw.next('welcome')
  return raw
}

const get = async (c: TestCoordinator, path: string, token = c.token) =>
  fetch(`${c.base}${path}`, { headers: { authorization: `Bearer ${token}` } })

async function credits(c: TestCoordinator): Promise<{ balanceMc: number; escrowMc: number }> {
  return (await (await get(c, '/api/credits')).json()) as { balanceMc: number; escrowMc: number }
}

/** Runs `assign`'s job to the end on `w`, exiting with `exitCode`. */
async function finish(
  raw: RawWorker,
  w: TestWorker,
  jobId: string,
  attempt: number,
  exitCode = 0,
): Promise<void> {
  const lease = { jobId, attempt }
  raw.send({ type: 'job.started', lease })
  raw.send(signedResult(w, lease, { durationMs: 5, exitCode }))
  await raw.next('job.ack')
}

describe.each(['sqlite', 'postgres'] as const)('on %s', (engine) => {
  const open = async () =>
    await startTestCoordinator(
      { maxArray: 50 },
      engine === 'postgres' ? { database: await freshDatabase() } : {},
    )

  test('an array of 10 with %3 never has more than 3 members assigned or running, on a worker with 6 slots', async () => {
    t = await open()
    const w = testWorker('w-batch-cap1')
    const raw = await worker(t, w, 6)
    const res = await t.post('/api/jobs', { ...SPEC, array: '0-9%3' }, t.token)
    expect(res.status).toBe(201)
    const made = SubmittedArray.parse(await res.json())
    expect(made.jobs.map((j) => j.array?.index)).toEqual([...Array(10).keys()])
    const running = new Map<string, number>()
    let most = 0
    const seen = new Set<number>()
    const record = (a: {
      job: { jobId: string; attempt: number; array: { id: string; index: number } | null }
    }) => {
      expect(a.job.array?.id).toBe(made.array)
      seen.add(a.job.array!.index)
      running.set(a.job.jobId, a.job.attempt)
    }
    while (seen.size < 10) {
      record(await raw.next('job.assign', 15_000))
      // The scheduler offers every free slot at once: take whatever else it sent meanwhile.
      await Bun.sleep(100)
      while (raw.got.some((m) => m.type === 'job.assign')) record(await raw.next('job.assign'))
      most = Math.max(most, running.size)
      if (running.size >= 3 || seen.size === 10) {
        const [id, attempt] = running.entries().next().value as [string, number]
        running.delete(id)
        await finish(raw, w, id, attempt)
      }
    }
    expect(most).toBe(3)
    const view = ArrayView.parse(await (await get(t, `/api/arrays/${made.array}`)).json())
    await until(async () => {
      const v = ArrayView.parse(await (await get(t!, `/api/arrays/${made.array}`)).json())
      return (v.counts['succeeded'] ?? 0) + (v.counts['assigned'] ?? 0) + (v.counts['running'] ?? 0) === 10
    }, 'every member assigned or done')
    expect(view.size).toBe(10)
    expect(view.cap).toBe(3)
  })

  test('a failed parent cancels its --after child and grandchild with the reason, unbilled and refunded; --after-any runs', async () => {
    t = await open()
    const w = testWorker('w-batch-dep1')
    const raw = await worker(t, w, 2)
    const before = await credits(t)
    const submit = async (body: object) => {
      const res = await t!.post('/api/jobs', { ...SPEC, ...body }, t!.token)
      expect(res.status).toBe(201)
      return JobView.parse(await res.json())
    }
    const parent = await submit({})
    const child = await submit({ after: [parent.id] })
    const grandchild = await submit({ after: [child.id] })
    const cleanup = await submit({ after: [parent.id], afterAny: true })
    const a = await raw.next('job.assign')
    expect(a.job.jobId).toBe(parent.id)
    const waiting = await t.job(child.id)
    expect(waiting.state).toBe('queued')
    expect(waiting.waiting).toMatch(new RegExp(`^waits for ${parent.id} \\((assigned|running)\\)`))
    expect(waiting.after).toEqual([{ id: parent.id, state: 'assigned' }])
    await finish(raw, w, parent.id, a.job.attempt, 3)
    const c = await t.job(child.id)
    expect(c).toMatchObject({
      state: 'cancelled',
      outcome: 'dependency',
      error: `dependency ${parent.id} failed`,
      costMc: 0,
    })
    expect((await t.job(grandchild.id)).error).toBe(`dependency ${child.id} was cancelled`)
    // --after-any: released, and handed to the worker like a newly queued job.
    const next = await raw.next('job.assign')
    expect(next.job.jobId).toBe(cleanup.id)
    await finish(raw, w, cleanup.id, next.job.attempt)
    // The escrow of the cancelled ones came back whole (the worker is alice's: what ran paid her back).
    expect((await t.job(grandchild.id)).costMc).toBe(0)
    const now = await credits(t)
    expect([now.balanceMc, now.escrowMc]).toEqual([before.balanceMc, 0])
  })

  test('unknown and foreign dependencies, a bad spec, a spec over --max-array and an unaffordable array are refused', async () => {
    t = await open()
    const bob = await t.addUser('bob')
    const bobs = await t.post('/api/jobs', SPEC, bob)
    const bobJob = JobView.parse(await bobs.json())
    const refuse = async (body: object, status: number, text: string) => {
      const res = await t!.post('/api/jobs', { ...SPEC, ...body }, t!.token)
      const answer = (await res.json()) as { error: { code: string; message: string } }
      expect(`${res.status} ${answer.error.message}`).toContain(`${status} `)
      expect(answer.error.message).toContain(text)
      return answer.error.code
    }
    expect(await refuse({ after: ['zzzzzzzzzzzz'] }, 404, "no job or array 'zzzzzzzzzzzz' among yours")).toBe(
      'dependency_not_found',
    )
    // Someone else's job answers as an unknown one: ids are not probed.
    await refuse({ after: [bobJob.id] }, 404, `no job or array '${bobJob.id}' among yours`)
    expect(await refuse({ array: '5-1' }, 400, 'goes backwards')).toBe('bad_array')
    await refuse({ array: '0-50' }, 400, 'at most 50 members on this coordinator')
    await refuse({ afterAny: true }, 400, '--after-any needs --after')
    // 10 credits each (1 CPU for 10 minutes at 1 credit a CPU-minute); alice has 100.
    const code = await refuse(
      { array: '0-10', timeoutMs: 600_000 },
      402,
      'the array of 11 jobs may cost up to 110 credits; you have 100',
    )
    expect(code).toBe('insufficient_credits')
    expect((await credits(t)).escrowMc).toBe(0)
    const list = JobView.array().parse(await (await get(t, '/api/jobs')).json())
    expect(list).toHaveLength(0)
  })

  test('cancelling an array cancels the members not finished; an array id as a dependency means all its members', async () => {
    t = await open()
    const res = await t.post('/api/jobs', { ...SPEC, array: '0-3' }, t.token)
    const made = SubmittedArray.parse(await res.json())
    const dep = await t.post('/api/jobs', { ...SPEC, after: [made.array] }, t.token)
    const child = JobView.parse(await dep.json())
    expect(child.after.map((d) => d.id).sort()).toEqual(made.jobs.map((j) => j.id).sort())
    const cancelled = ArrayView.parse(
      await (await t.post(`/api/arrays/${made.array}/cancel`, {}, t.token)).json(),
    )
    expect(cancelled.counts).toEqual({ cancelled: 4 })
    expect((await t.job(child.id)).state).toBe('cancelled')
    expect((await credits(t)).escrowMc).toBe(0)
    const other = await t.addUser('carol')
    expect((await get(t, `/api/arrays/${made.array}`, other)).status).toBe(404)
  })
})

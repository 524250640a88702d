import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  connect,
  connectWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { runJobs, sample, scrape } from '../support/metrics'
import { testWorker } from '../support/worker-keys'

// GET /metrics of a real coordinator (port 0, SQLite file, real worker sockets) after jobs ran:
// the numbers moved, and only the scrape token or an operator's login reads them.

const TOKEN = 'scrape-token-0123456789abcdef'
const worker = testWorker('metrics-worker')
let t: TestCoordinator
let text: string
let w: Awaited<ReturnType<typeof connectWorker>>
let fourth: { jobId: string; attempt: number }
let ran: string[]

beforeAll(async () => {
  t = await startTestCoordinator({}, { metricsToken: TOKEN })
  w = await connectWorker(t, worker)
  ran = await runJobs(t, w, worker, 3)
  // A fourth job stays assigned (the worker never answers it): its maximum cost is in escrow.
  await t.submit()
  const assign = await w.next('job.assign', 15_000)
  fourth = { jobId: assign.job.jobId, attempt: assign.job.attempt }
  // A frame that does not parse, on a socket of its own (it is closed for it).
  const bad = connect(t.coord.wsPort, t.token)
  expect(await bad.opened).toBe(true)
  bad.ws.send('{"type":"no-such-message"}')
  await bad.closed
  await until(
    async () => (await t.coord.store.queue.counts())['assigned'] === 1,
    'the fourth job is assigned',
  )
  const res = await scrape(t, TOKEN)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  text = await res.text()
})
afterAll(async () => {
  await t.stop()
})

describe('GET /metrics after jobs ran through a worker', () => {
  test('finished jobs, waits, run times, dispatches, settled credits', async () => {
    expect(sample(text, 'gridx_jobs_finished_total{state="succeeded",outcome="exited"}')).toBe(3)
    expect(sample(text, 'gridx_job_queue_wait_seconds_count')).toBe(4)
    expect(sample(text, 'gridx_job_queue_wait_seconds_bucket{le="+Inf"}')).toBe(4)
    expect(sample(text, 'gridx_job_run_seconds_count')).toBe(3)
    expect(sample(text, 'gridx_dispatches_total')).toBe(4)
    expect(sample(text, 'gridx_requeues_total')).toBe(0)
    // What the three settled, as their rows say (a start and result sent back to back may bill nothing).
    let settled = 0
    for (const id of ran) settled += (await t.job(id)).costMc ?? 0
    expect(sample(text, 'gridx_settled_credits_total')).toBeCloseTo(settled / 1000, 6)
  })

  test('gauges read at the scrape: jobs by state, workers, slots, escrow', async () => {
    expect(sample(text, 'gridx_jobs{state="assigned"}')).toBe(1)
    expect(sample(text, 'gridx_jobs{state="queued"}')).toBe(0)
    expect(sample(text, 'gridx_workers_connected')).toBe(1)
    expect(sample(text, 'gridx_worker_slots{state="busy"}')).toBe(1)
    expect(sample(text, 'gridx_worker_slots{state="free"}')).toBe(0)
    const escrow = (await t.coord.store.credits.audit()).escrow
    expect(escrow).toBeGreaterThan(0)
    expect(sample(text, 'gridx_escrow_credits')).toBe(escrow / 1000)
  })

  test('worker socket frames by type, invalid ones too', () => {
    expect(sample(text, 'gridx_worker_messages_total{type="hello"}')).toBe(1)
    expect(sample(text, 'gridx_worker_messages_total{type="job.started"}')).toBe(3)
    expect(sample(text, 'gridx_worker_messages_total{type="job.result"}')).toBe(3)
    expect(sample(text, 'gridx_worker_messages_total{type="invalid"}')).toBe(1)
    expect(sample(text, 'gridx_worker_messages_total{type="drain"}')).toBe(0)
  })

  test('HTTP requests by route template and status, with latency; no raw path, no job id', () => {
    expect(sample(text, 'gridx_http_requests_total{route="/api/jobs",method="POST",status="201"}')).toBe(4)
    expect(
      sample(text, 'gridx_http_requests_total{route="/api/auth/login",method="POST",status="200"}'),
    ).toBe(1)
    expect(sample(text, 'gridx_http_requests_total{route="/ws/worker",method="GET",status="101"}')).toBe(2)
    expect(sample(text, 'gridx_http_request_duration_seconds_count{route="/api/jobs"}')).toBe(4)
    expect(text).not.toMatch(/route="\/api\/jobs\/[^:]/)
    expect(text).not.toContain('alice')
  })

  test('process metrics and the build', () => {
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024)
    expect(sample(text, 'process_open_fds')).toBeGreaterThan(3)
    expect(sample(text, 'process_max_fds')).toBeGreaterThan(0)
    expect(sample(text, 'process_virtual_memory_bytes')).toBeGreaterThan(0)
    const start = sample(text, 'process_start_time_seconds')!
    expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(600)
    expect(text).toMatch(/^gridx_build_info\{version="[^"]+"\} 1$/m)
  })

  test('later scrapes count the scrapes themselves, by route', async () => {
    const again = await (await scrape(t, TOKEN)).text()
    expect(
      sample(again, 'gridx_http_requests_total{route="/metrics",method="GET",status="200"}'),
    ).toBeGreaterThanOrEqual(1)
  })
})

describe('who may scrape', () => {
  test('no token or a wrong one: 401 in the API JSON; a user who is not an operator: 403', async () => {
    const none = await scrape(t)
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ error: { code: 'unauthorized' } })
    const wrong = await scrape(t, `${TOKEN}x`)
    expect(wrong.status).toBe(401)
    expect(await wrong.json()).toMatchObject({ error: { code: 'unauthorized' } })
    const bob = await t.addUser('bob')
    const refused = await scrape(t, bob)
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({ error: { code: 'forbidden' } })
  })

  test("the scrape token and an operator's login token both read it", async () => {
    expect((await scrape(t, TOKEN)).status).toBe(200)
    const alice = await scrape(t, t.token)
    expect(alice.status).toBe(200)
    expect(await alice.text()).toContain('gridx_jobs_finished_total')
  })

  test('the refusals were counted too', async () => {
    const text = await (await scrape(t, TOKEN)).text()
    expect(
      sample(text, 'gridx_http_requests_total{route="/metrics",method="GET",status="401"}'),
    ).toBeGreaterThanOrEqual(2)
    expect(
      sample(text, 'gridx_http_requests_total{route="/metrics",method="GET",status="403"}'),
    ).toBeGreaterThanOrEqual(1)
  })

  test('cancelling a running job counts it as cancelled and adds what it settled to the settled credits', async () => {
    const before = sample(await (await scrape(t, TOKEN)).text(), 'gridx_settled_credits_total') ?? 0
    w.send({ type: 'job.started', lease: fourth })
    await until(async () => (await t.job(fourth.jobId)).state === 'running', 'the fourth job runs')
    // Long enough that the time it ran costs something.
    await Bun.sleep(1100)
    expect((await t.post(`/api/jobs/${fourth.jobId}/cancel`, {}, t.token)).status).toBe(200)
    const cost = (await t.job(fourth.jobId)).costMc ?? 0
    expect(cost).toBeGreaterThan(0)
    const after = await (await scrape(t, TOKEN)).text()
    expect(sample(after, 'gridx_jobs_finished_total{state="cancelled",outcome="cancelled"}')).toBe(1)
    expect(sample(after, 'gridx_settled_credits_total')).toBeCloseTo(before + cost / 1000, 6)
  })
})

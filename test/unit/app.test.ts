import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/coordinator/app'
import { DirBlobStore } from '../../src/coordinator/blobs/dir'
import { Auth } from '../../src/coordinator/auth'
import { JobEvents } from '../../src/coordinator/events'
import { Hub } from '../../src/coordinator/hub'
import { Lifecycle } from '../../src/coordinator/lifecycle'
import { QueueIndex, watchQueue } from '../../src/coordinator/queue-index'
import { Scheduler } from '../../src/coordinator/scheduler'
import { DEFAULT_SETTINGS, type Settings } from '../../src/coordinator/settings'
import type { Store } from '../../src/coordinator/store'
import { AttemptView, ErrorBody, Health, JobView, OutputEvent } from '../../src/protocol/api'
import { ReceiptFile, verifyReceipt } from '../../src/protocol/receipt'
import { VERSION } from '../../src/version'
import { closeStore, ENGINES } from '../support/stores'
import { signedResult, testWorker } from '../support/worker-keys'

const START = 1_700_000_000_000
let dir: string
let time = START
let store: Store
let events: JobEvents
let lifecycle: Lifecycle
let app: ReturnType<typeof createApp>
const logs: string[] = []
const passwords = { alice: 'alice password 1', bob: 'bob password 12' }
const tokens: Record<'alice' | 'bob', string> = { alice: '', bob: '' }

type Who = 'alice' | 'bob' | undefined

function request(path: string, init: RequestInit & { as?: Who } = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (init.as) headers.set('authorization', `Bearer ${tokens[init.as]}`)
  return Promise.resolve(app.request(path, { ...init, headers }))
}
function post(path: string, body: unknown, as?: Who): Promise<Response> {
  return request(path, {
    method: 'POST',
    as,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}
/** Checks an error response: status, `{error: {code, message}}` shape, and returns the error. */
async function apiError(
  res: Response,
  status: number,
  code: string,
): Promise<{ code: string; message: string }> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toStartWith('application/json')
  const body = ErrorBody.parse(await res.json())
  expect(body.error.code).toBe(code)
  expect(body.error.message.length).toBeGreaterThan(10)
  return body.error
}

const job = {
  image: 'python:3.12-slim',
  script: { name: 'job.py', contentBase64: Buffer.from('print("hi")\n').toString('base64') },
  timeoutMs: 60_000,
  cpus: 1,
  memoryBytes: 256 * 1024 * 1024,
}
async function submit(as: Who = 'alice', body: unknown = job) {
  const res = await post('/api/jobs', body, as)
  expect(res.status).toBe(201)
  return JobView.parse(await res.json())
}
async function ndjson(res: Response) {
  const text = await res.text()
  expect(text.endsWith('\n')).toBe(true)
  return text
    .trimEnd()
    .split('\n')
    .map((l) => OutputEvent.parse(JSON.parse(l)))
}

describe.each(ENGINES)('$name', (engine) => {
  // Built the way src/coordinator/server.ts builds it, without Bun.serve.
  beforeAll(async () => {
    // The clock as the previous engine's tests left it would date this engine's tokens.
    time = START
    dir = mkdtempSync(join(tmpdir(), 'gridx-app-'))
    // Routes in general; admission by invite has its own tests (signup.test.ts).
    const settings: Settings = { ...DEFAULT_SETTINGS, signup: 'open' }
    const clock = { now: () => time }
    const log = (line: string) => void logs.push(line)
    store = await engine.open()
    events = new JobEvents()
    lifecycle = new Lifecycle(store, events, clock, settings, log)
    const hub = new Hub(store, lifecycle, clock, settings, () => scheduler.wake(), log)
    const index = new QueueIndex()
    const scheduler = new Scheduler(store, index, hub, events, clock, settings, (err) => log(String(err)))
    lifecycle.watch = watchQueue(index)
    lifecycle.link = hub
    const auth = new Auth(store, clock, settings)
    const blobs = new DirBlobStore(join(dir, 'blobs'), { shared: false })
    app = createApp({
      store,
      auth,
      lifecycle,
      scheduler,
      hub,
      events,
      clock,
      settings,
      blobs,
      startedAt: START,
    })
    // argon2id is slow on purpose: register and log in the two users once.
    for (const user of ['alice', 'bob'] as const) {
      expect((await post('/api/auth/register', { user, password: passwords[user] })).status).toBe(201)
      const res = await post('/api/auth/login', { user, password: passwords[user] })
      tokens[user] = ((await res.json()) as { token: string }).token
    }
  })
  beforeEach(() => {
    time = START
  })
  afterAll(async () => {
    await closeStore(store)
    rmSync(dir, { recursive: true, force: true })
  })

  describe('GET /health', () => {
    test('answers JSON without authentication', async () => {
      time = START + 42_400
      const res = await request('/health')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toStartWith('application/json')
      const h = Health.parse(await res.json())
      expect(h).toMatchObject({
        status: 'ok',
        version: VERSION,
        uptimeSeconds: 42,
        workers: 0,
        runningJobs: 0,
      })
    })

    test('counts queued jobs', async () => {
      const before = Health.parse(await (await request('/health')).json()).queuedJobs
      const j = await submit()
      expect(Health.parse(await (await request('/health')).json()).queuedJobs).toBe(before + 1)
      await post(`/api/jobs/${j.id}/cancel`, {}, 'alice')
      expect(Health.parse(await (await request('/health')).json()).queuedJobs).toBe(before)
    })
  })

  describe('POST /api/auth/register', () => {
    test('a short password is a 400 with {error: {code, message}} saying what is needed', async () => {
      const e = await apiError(
        await post('/api/auth/register', { user: 'carol', password: 'short' }),
        400,
        'bad_request',
      )
      expect(e.message).toBe('password: passwords need at least 8 characters')
    })

    test('a bad user name says what names look like', async () => {
      const e = await apiError(
        await post('/api/auth/register', { user: 'no spaces', password: 'long enough pw' }),
        400,
        'bad_request',
      )
      expect(e.message).toStartWith('user: user names are 2-32 letters')
    })

    test('missing fields and non-JSON bodies are 400s too', async () => {
      expect((await apiError(await post('/api/auth/register', {}), 400, 'bad_request')).message).toStartWith(
        'user: ',
      )
      expect(
        (await apiError(await post('/api/auth/register', 'not json'), 400, 'bad_request')).message,
      ).toContain('JSON')
    })

    test('a taken name is a 409', async () => {
      await apiError(
        await post('/api/auth/register', { user: 'alice', password: 'another password' }),
        409,
        'user_exists',
      )
    })

    test('a new account is a 201 with its name', async () => {
      const res = await post('/api/auth/register', { user: 'dave.d', password: 'daves password' })
      expect(res.status).toBe(201)
      expect(await res.json()).toEqual({
        user: 'dave.d',
        operator: false,
        grantMc: DEFAULT_SETTINGS.signupGrantMc,
      })
    })
  })

  describe('POST /api/auth/login and logout', () => {
    test('good credentials give a token that works', async () => {
      const res = await post('/api/auth/login', { user: 'bob', password: passwords.bob })
      expect(res.status).toBe(200)
      const s = (await res.json()) as { user: string; token: string; expiresAt: string }
      expect(s.user).toBe('bob')
      expect(s.token).toStartWith('gx_')
      expect(new Date(s.expiresAt).getTime()).toBe(START + DEFAULT_SETTINGS.tokenTtlMs)
      const me = await request('/api/me', { headers: { authorization: `Bearer ${s.token}` } })
      expect(await me.json()).toEqual({ user: 'bob', operator: false })
    })

    test('a wrong password is a 401', async () => {
      const e = await apiError(
        await post('/api/auth/login', { user: 'bob', password: 'not his password' }),
        401,
        'bad_credentials',
      )
      expect(e.message).toBe("wrong user name or password for 'bob'")
    })

    test('logout revokes the token', async () => {
      const s = (await (await post('/api/auth/login', { user: 'bob', password: passwords.bob })).json()) as {
        token: string
      }
      const auth = { authorization: `Bearer ${s.token}` }
      expect((await request('/api/auth/logout', { method: 'POST', headers: auth })).status).toBe(204)
      await apiError(await request('/api/me', { headers: auth }), 401, 'unauthorized')
      // Other sessions of the same user live on.
      expect((await request('/api/me', { as: 'bob' })).status).toBe(200)
    })
  })

  describe('authentication on /api', () => {
    test('no token is a 401 that says to log in', async () => {
      const e = await apiError(await request('/api/jobs'), 401, 'unauthorized')
      expect(e.message).toContain("'gridx login'")
      await apiError(await post('/api/jobs', job), 401, 'unauthorized')
      await apiError(await request('/api/jobs/anything/output'), 401, 'unauthorized')
    })

    test('an unknown token is a 401', async () => {
      const res = await request('/api/jobs', { headers: { authorization: 'Bearer gx_forged' } })
      expect((await apiError(res, 401, 'unauthorized')).message).toContain('expired or was revoked')
    })

    test('an expired token is a 401', async () => {
      time = START + DEFAULT_SETTINGS.tokenTtlMs
      await apiError(await request('/api/jobs', { as: 'alice' }), 401, 'unauthorized')
    })

    test('unknown routes are JSON 404s', async () => {
      const e = await apiError(await request('/api/nothing-here', { as: 'alice' }), 404, 'not_found')
      expect(e.message).toBe('no route GET /api/nothing-here')
    })
  })

  describe('POST /api/jobs', () => {
    test('a job with neither script nor command is refused', async () => {
      const noScript = { ...job, script: undefined }
      const e = await apiError(await post('/api/jobs', noScript, 'alice'), 400, 'bad_request')
      expect(e.message).toContain('a job needs a script or a command')
      await apiError(await post('/api/jobs', { ...noScript, command: [] }, 'alice'), 400, 'bad_request')
    })

    test('a timeout below one second is refused, naming the field', async () => {
      const e = await apiError(
        await post('/api/jobs', { ...job, timeoutMs: 999 }, 'alice'),
        400,
        'bad_request',
      )
      expect(e.message).toStartWith('timeoutMs: ')
    })

    test('other bad fields are refused, naming the field', async () => {
      const bad = async (body: unknown, field: string) =>
        expect(
          (await apiError(await post('/api/jobs', body, 'alice'), 400, 'bad_request')).message,
        ).toStartWith(`${field}: `)
      await bad({ ...job, cpus: 0 }, 'cpus')
      await bad({ ...job, memoryBytes: 1024 }, 'memoryBytes')
      await bad({ ...job, image: '' }, 'image')
      await bad({ ...job, script: { name: '../etc/passwd', contentBase64: '' } }, 'script.name')
      await apiError(await post('/api/jobs', '{', 'alice'), 400, 'bad_request')
    })

    test('a good submission is a 201 with the queued job', async () => {
      time = START + 1234
      const v = await submit('alice')
      expect(v).toMatchObject({
        owner: 'alice',
        state: 'queued',
        image: job.image,
        scriptName: 'job.py',
        command: [],
        args: [],
        timeoutMs: 60_000,
        attempt: 0,
        worker: null,
        exitCode: null,
        createdAt: new Date(START + 1234).toISOString(),
        startedAt: null,
        finishedAt: null,
      })
      expect(v.id).toMatch(/^[a-z2-9]{12}$/)
      const got = await request(`/api/jobs/${v.id}`, { as: 'alice' })
      expect(got.status).toBe(200)
      expect(JobView.parse(await got.json())).toMatchObject({ id: v.id, state: 'queued' })
    })

    test('a plain command job is accepted too', async () => {
      const v = await submit('alice', { ...job, script: undefined, command: ['echo', 'hi'], args: ['x'] })
      expect(v).toMatchObject({ scriptName: null, command: ['echo', 'hi'], args: ['x'] })
    })

    test('GET /api/jobs lists only the caller’s jobs, newest first, with a limit', async () => {
      time = START + 10
      const a1 = await submit('alice')
      time = START + 20
      const a2 = await submit('alice')
      const b1 = await submit('bob')
      const list = (await (await request('/api/jobs', { as: 'alice' })).json()) as {
        id: string
        owner: string
      }[]
      expect(list.every((j) => j.owner === 'alice')).toBe(true)
      const ids = list.map((j) => j.id)
      expect(ids).not.toContain(b1.id)
      expect(ids.indexOf(a2.id)).toBeLessThan(ids.indexOf(a1.id))
      const one = (await (await request('/api/jobs?limit=1', { as: 'alice' })).json()) as unknown[]
      expect(one).toHaveLength(1)
    })
  })

  describe('one user cannot see or touch another user’s job', () => {
    test('GET, cancel and output of alice’s job are 404 for bob, and the job is unchanged', async () => {
      const v = await submit('alice')
      const e = await apiError(await request(`/api/jobs/${v.id}`, { as: 'bob' }), 404, 'job_not_found')
      expect(e.message).toContain(`no job '${v.id}' among yours`)
      await apiError(await post(`/api/jobs/${v.id}/cancel`, {}, 'bob'), 404, 'job_not_found')
      await apiError(await request(`/api/jobs/${v.id}/output`, { as: 'bob' }), 404, 'job_not_found')
      await apiError(await request(`/api/jobs/${v.id}/output?follow=1`, { as: 'bob' }), 404, 'job_not_found')
      const mine = JobView.parse(await (await request(`/api/jobs/${v.id}`, { as: 'alice' })).json())
      expect(mine.state).toBe('queued')
    })

    test('an id that does not exist gets the very same 404', async () => {
      const e = await apiError(await request('/api/jobs/doesnotexist', { as: 'bob' }), 404, 'job_not_found')
      expect(e.message).toContain("no job 'doesnotexist' among yours")
    })
  })

  describe('POST /api/jobs/:id/cancel', () => {
    test('a queued job becomes cancelled; cancelling again changes nothing', async () => {
      const v = await submit('alice')
      time = START + 5000
      const res = await post(`/api/jobs/${v.id}/cancel`, {}, 'alice')
      expect(res.status).toBe(200)
      const c = JobView.parse(await res.json())
      expect(c).toMatchObject({ id: v.id, state: 'cancelled', outcome: 'cancelled', exitCode: null })
      expect(c.finishedAt).toBe(new Date(START + 5000).toISOString())
      time = START + 9000
      const again = JobView.parse(await (await post(`/api/jobs/${v.id}/cancel`, {}, 'alice')).json())
      expect(again).toMatchObject({ state: 'cancelled', finishedAt: c.finishedAt })
    })
  })

  describe('GET /api/jobs/:id/output', () => {
    test('without follow: NDJSON that ends with an end line carrying the job', async () => {
      const v = await submit('alice')
      const res = await request(`/api/jobs/${v.id}/output`, { as: 'alice' })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toStartWith('application/x-ndjson')
      const lines = await ndjson(res)
      expect(lines).toHaveLength(1)
      const end = lines[0]!
      expect(end.type).toBe('end')
      if (end.type === 'end') expect(end.job).toMatchObject({ id: v.id, state: 'queued' })
    })

    test('stored output of the current attempt comes first, in order, then the end line', async () => {
      const v = await submit('alice')
      expect((await store.leases.assign(v.id, 'worker-test-1', START + 60_000))?.attempt).toBe(1)
      const lease = { jobId: v.id, attempt: 1 }
      await store.leases.appendOutput(
        lease,
        'worker-test-1',
        { seq: 1, stream: 'stderr', data: Buffer.from('oops\n') },
        1e6,
      )
      await store.leases.appendOutput(
        lease,
        'worker-test-1',
        { seq: 0, stream: 'stdout', data: Buffer.from('hello\n') },
        1e6,
      )
      const lines = await ndjson(await request(`/api/jobs/${v.id}/output`, { as: 'alice' }))
      expect(lines.slice(0, 2)).toEqual([
        { type: 'output', stream: 'stdout', data: Buffer.from('hello\n').toString('base64') },
        { type: 'output', stream: 'stderr', data: Buffer.from('oops\n').toString('base64') },
      ])
      expect(lines).toHaveLength(3)
      expect(lines[2]).toMatchObject({ type: 'end', job: { id: v.id, state: 'assigned', attempt: 1 } })
    })

    test('follow on a job that has already ended returns at once with the end line', async () => {
      const v = await submit('alice')
      await post(`/api/jobs/${v.id}/cancel`, {}, 'alice')
      const lines = await ndjson(await request(`/api/jobs/${v.id}/output?follow=1`, { as: 'alice' }))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ type: 'end', job: { id: v.id, state: 'cancelled' } })
    })

    test('follow streams state and output live until the job ends, then lets go', async () => {
      const v = await submit('alice')
      const bob = (await store.accounts.byName('bob'))!
      const worker = testWorker('worker-test-2')
      await store.workers.upsert(worker.id, bob.id, 'bobs-pc', START, worker.key.publicKey)
      await store.leases.assign(v.id, worker.id, START + 60_000)
      const lease = { jobId: v.id, attempt: 1 }
      const res = await request(`/api/jobs/${v.id}/output?follow=1`, { as: 'alice' })
      expect(res.status).toBe(200)
      const body = ndjson(res)
      // Wait until the stream has subscribed, so no event is published before it listens.
      for (let i = 0; i < 200 && events.followers === 0; i++) await Bun.sleep(1)
      expect(events.followers).toBe(1)
      // And until it has read the job and its stored output (on PostgreSQL a round trip): output
      // stored before that read is replayed ahead of the state events queued meanwhile.
      await Bun.sleep(100)
      expect(await store.leases.markRunning(lease, worker.id, START + 1)).toBe(true)
      lifecycle.started(lease, worker.id, 'bobs-pc', START + 1)
      const data = Buffer.from('live line\n').toString('base64')
      await lifecycle.output(worker.id, {
        type: 'job.output',
        lease,
        seq: 0,
        stream: 'stdout',
        dataBase64: data,
      })
      await lifecycle.result(worker.id, signedResult(worker, lease, { exitCode: 0, durationMs: 1000 }))
      const lines = await body
      expect(lines).toHaveLength(3)
      expect(lines[0]).toEqual({ type: 'state', state: 'running', worker: 'bobs-pc', reason: null })
      expect(lines[1]).toEqual({ type: 'output', stream: 'stdout', data })
      expect(lines[2]).toMatchObject({ type: 'end', job: { id: v.id, state: 'succeeded', exitCode: 0 } })
      expect(events.followers).toBe(0)
    })

    test('a job sent back to the queue tells its followers why, in the worker-visible words', async () => {
      const v = await submit('alice')
      const bob = (await store.accounts.byName('bob'))!
      const worker = testWorker('worker-requeue')
      await store.workers.upsert(worker.id, bob.id, 'bobs-pc', START, worker.key.publicKey)
      await store.leases.assign(v.id, worker.id, START + 60_000)
      const lease = { jobId: v.id, attempt: 1 }
      const res = await request(`/api/jobs/${v.id}/output?follow=1`, { as: 'alice' })
      const body = ndjson(res)
      for (let i = 0; i < 200 && events.followers === 0; i++) await Bun.sleep(1)
      expect(await store.leases.markRunning(lease, worker.id, START + 1)).toBe(true)
      const error = 'pulling image python:3.12-slim failed: no route to registry'
      await lifecycle.result(
        worker.id,
        signedResult(worker, lease, { outcome: 'error', exitCode: null, error, retryable: true }),
      )
      await post(`/api/jobs/${v.id}/cancel`, {}, 'alice')
      const lines = await body
      expect(lines[0]).toEqual({ type: 'state', state: 'queued', worker: null, reason: error })
      expect(lines.at(-1)).toMatchObject({ type: 'end', job: { id: v.id, state: 'cancelled' } })
    })
  })

  describe('GET /api/jobs/:id/attempts and /receipt', () => {
    test('a signed result is listed as signed and its receipt verifies offline; none before it, none for bob', async () => {
      const v = await submit('alice')
      const bob = (await store.accounts.byName('bob'))!
      const worker = testWorker('worker-test-3')
      await store.workers.upsert(worker.id, bob.id, 'bobs-laptop', START, worker.key.publicKey)
      await store.leases.assign(v.id, worker.id, START + 60_000, START)
      const lease = { jobId: v.id, attempt: 1 }
      expect(await store.leases.markRunning(lease, worker.id, START + 1)).toBe(true)
      await apiError(await request(`/api/jobs/${v.id}/receipt`, { as: 'alice' }), 404, 'no_receipt')
      time = START + 2000
      const msg = signedResult(worker, lease, { exitCode: 0, durationMs: 1999 })
      await lifecycle.result(worker.id, msg)
      const attempts = AttemptView.array().parse(
        await (await request(`/api/jobs/${v.id}/attempts`, { as: 'alice' })).json(),
      )
      expect(attempts).toMatchObject([{ attempt: 1, worker: 'bobs-laptop', outcome: 'exited', signed: true }])
      const res = await request(`/api/jobs/${v.id}/receipt`, { as: 'alice' })
      expect(res.status).toBe(200)
      const file = ReceiptFile.parse(await res.json())
      expect(file).toEqual({
        ...msg.receipt,
        workerId: worker.id,
        worker: 'bobs-laptop',
        publicKey: worker.key.publicKey,
      })
      expect(verifyReceipt(file, file.publicKey)).toMatchObject({ jobId: v.id, attempt: 1, exitCode: 0 })
      await apiError(await request(`/api/jobs/${v.id}/receipt`, { as: 'bob' }), 404, 'job_not_found')
    })
  })
})

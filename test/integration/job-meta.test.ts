import { afterEach, describe, expect, test } from 'bun:test'
import { ApiClient } from '../../src/client/api'
import { parseCoordinator } from '../../src/client/address'
import { META_LIMITS } from '../../src/protocol/job-meta'
import type { JobView } from '../../src/protocol/api'
import { connectWorker, startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { testWorker } from '../support/worker-keys'

// A job's environment, name and labels through a real coordinator (port 0, SQLite, real
// sockets): the coordinator's own schema refuses what the CLI would (a client need not be
// gridx), job.assign carries the environment, listings filter, and id prefixes stay owner-scoped.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

type ErrorReply = { error: { code: string; message: string } }
const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
const get = (t: TestCoordinator, path: string, token = t.token) =>
  fetch(`${t.base}${path}`, { headers: { authorization: `Bearer ${token}` } })

describe('the coordinator checks a job environment, name and labels itself', () => {
  const many = Object.fromEntries(Array.from({ length: META_LIMITS.envVars + 1 }, (_, i) => [`V${i}`, '1']))
  test.each([
    ['a GRIDX_* variable', { env: { GRIDX_ARRAY_INDEX: '3' } }, "env: 'GRIDX_ARRAY_INDEX' is reserved"],
    ['PATH', { env: { PATH: '/evil' } }, "env: 'PATH' is set by the worker's sandbox"],
    ['a bad name', { env: { 'A-B': '1' } }, "env: 'A-B' is not a valid environment variable name"],
    [
      'too many variables',
      { env: many },
      `env: a job takes at most ${META_LIMITS.envVars} environment variables`,
    ],
    ['too large a value', { env: { BIG: 'x'.repeat(40_000) } }, 'env: the value of BIG is 40000 bytes'],
    [
      'too much in all',
      { env: { A: 'x'.repeat(20_000), B: 'y'.repeat(20_000) } },
      "env: the job's environment is 40004 bytes; at most 32768 bytes in all",
    ],
    ['a NUL in a value', { env: { A: 'a\0b' } }, 'env: the value of A may not contain a NUL character'],
    ['a name with a newline', { name: 'a\nb' }, 'name: job names may not contain control characters'],
    ['too long a name', { name: 'n'.repeat(129) }, 'name: job names are at most 128 characters'],
    ['a bad label key', { labels: { 'a b': '1' } }, "labels: 'a b' is not a valid label key"],
    [
      'a label value with ESC',
      { labels: { a: 'x\x1b[2J' } },
      'labels: label values may not contain control characters',
    ],
  ])('%s is refused with 400, naming the field', async (_what, fields, message) => {
    const t = (current = await startTestCoordinator())
    const res = await t.post('/api/jobs', { ...spec, ...fields }, t.token)
    expect(res.status).toBe(400)
    const { error } = (await res.json()) as ErrorReply
    expect(error.code).toBe('bad_request')
    expect(error.message).toStartWith(message)
  })

  test('accepted ones are stored, shown (variable names, never values) and sent in job.assign', async () => {
    const t = (current = await startTestCoordinator())
    const w = await connectWorker(t, testWorker('job-meta-worker'))
    const env = { SEED: '7', NOTE: 'a = b\nc' }
    const res = await t.post('/api/jobs', { ...spec, env, name: 'sweep 1', labels: { exp: '3' } }, t.token)
    expect(res.status).toBe(201)
    const view = (await res.json()) as JobView
    expect(view).toMatchObject({ name: 'sweep 1', labels: { exp: '3' }, envNames: ['SEED', 'NOTE'] })
    expect(JSON.stringify(view)).not.toContain('a = b')
    const { job } = await w.next('job.assign')
    expect(job.jobId).toBe(view.id)
    expect(job.env).toEqual(env)
  })
})

describe('GET /api/jobs and id prefixes', () => {
  test('filters by states, a name glob and labels; bad parameters are 400s', async () => {
    const t = (current = await startTestCoordinator())
    const submit = async (name: string, labels: Record<string, string>) => {
      const res = await t.post('/api/jobs', { ...spec, name, labels }, t.token)
      return ((await res.json()) as JobView).id
    }
    const a = await submit('sweep-a', { exp: '3', lr: '1' })
    const b = await submit('sweep-b', { exp: '4' })
    const c = await submit('plot', { exp: '3' })
    await t.post(`/api/jobs/${c}/cancel`, {}, t.token)
    const ids = async (q: string) =>
      ((await (await get(t, `/api/jobs?${q}`)).json()) as JobView[]).map((j) => j.id)
    expect(await ids('')).toEqual([c, b, a])
    expect(await ids('name=sweep*')).toEqual([b, a])
    expect(await ids('label=exp=3')).toEqual([c, a])
    expect(await ids('label=exp=3&label=lr=1')).toEqual([a])
    expect(await ids('state=queued,assigned,running')).toEqual([b, a])
    expect(await ids('state=cancelled&name=p*')).toEqual([c])
    for (const [q, why] of [
      ['state=done', 'state must be one of queued'],
      ['limit=0', 'limit must be a whole number from 1 to 1000'],
      ['limit=abc', 'limit must be a whole number'],
      ['label=novalue', 'label filters are key=value'],
      ['label=a%20b=1', "label: 'a b' is not a valid label key"],
    ]) {
      const res = await get(t, `/api/jobs?${q}`)
      expect(res.status, q).toBe(400)
      expect(((await res.json()) as ErrorReply).error.message, q).toStartWith(why!)
    }
  })

  test("all=1 lists everyone's jobs with the same filters, for operators only (gridx jobs --everyone)", async () => {
    const t = (current = await startTestCoordinator())
    const bob = await t.addUser('bob')
    const submit = async (name: string, token: string) =>
      ((await (await t.post('/api/jobs', { ...spec, name }, token)).json()) as JobView).id
    const mine = await submit('sweep-alice', t.token)
    const his = await submit('sweep-bob', bob)
    const other = await submit('plot-bob', bob)
    const list = async (q: string, token = t.token) =>
      (await (await get(t, `/api/jobs?${q}`, token)).json()) as JobView[]
    // Without all=1 still one's own only.
    expect((await list('')).map((j) => j.id)).toEqual([mine])
    const everyone = await list('all=1')
    expect(everyone.map((j) => [j.id, j.owner])).toEqual([
      [other, 'bob'],
      [his, 'bob'],
      [mine, 'alice'],
    ])
    expect((await list('all=1&name=sweep*')).map((j) => j.id)).toEqual([his, mine])
    expect((await list('all=1&limit=1')).map((j) => j.id)).toEqual([other])
    // Bob is no operator: 403 forbidden, as every operator route answers.
    const refused = await get(t, '/api/jobs?all=1', bob)
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as ErrorReply).error.code).toBe('forbidden')
    const odd = await get(t, '/api/jobs?all=yes')
    expect(odd.status).toBe(400)
    expect(((await odd.json()) as ErrorReply).error.message).toStartWith('all takes 1')
    // The client `gridx jobs --everyone` uses asks for the same.
    const api = new ApiClient(parseCoordinator(t.base, { httpPort: 0, wsPort: 0 }), t.token)
    expect((await api.jobs({ everyone: true, name: '*-bob' })).map((j) => j.id)).toEqual([other, his])
    expect((await api.jobs({ name: '*-bob' })).map((j) => j.id)).toEqual([])
  })

  test('a unique prefix resolves for every job route; ambiguous is 409 naming the candidates; others see 404', async () => {
    const t = (current = await startTestCoordinator())
    const a = await t.submit()
    const b = await t.submit()
    // Ids of one SQLite coordinator grow with time: two made together share a long prefix.
    let common = 0
    while (a[common] === b[common]) common++
    expect(common).toBeGreaterThanOrEqual(4)
    const unique = a.slice(0, common + 1)
    expect(((await (await get(t, `/api/jobs/${unique}`)).json()) as JobView).id).toBe(a)
    expect((await get(t, `/api/jobs/${unique}/attempts`)).status).toBe(200)
    const cancelled = (await (await t.post(`/api/jobs/${unique}/cancel`, {}, t.token)).json()) as JobView
    expect(cancelled).toMatchObject({ id: a, state: 'cancelled' })
    const ambiguous = await get(t, `/api/jobs/${a.slice(0, common)}`)
    expect(ambiguous.status).toBe(409)
    const { error } = (await ambiguous.json()) as ErrorReply
    expect(error.code).toBe('ambiguous_job_id')
    expect(error.message).toContain(a)
    expect(error.message).toContain(b)
    // Too short to be looked up, or someone else's: not found, revealing nothing.
    expect((await get(t, `/api/jobs/${a.slice(0, 3)}`)).status).toBe(404)
    const bob = await t.addUser('bob')
    const theirs = await get(t, `/api/jobs/${unique}`, bob)
    expect(theirs.status).toBe(404)
    expect(((await theirs.json()) as ErrorReply).error.code).toBe('job_not_found')
    expect((await get(t, `/api/jobs/${a.slice(0, common)}`, bob)).status).toBe(404)
  })
})

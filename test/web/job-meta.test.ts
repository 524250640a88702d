import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { webLogin, type WebSession } from '../support/web-session'

// The dashboard shows a job's name, labels and the names (never the values) of its variables,
// and its search finds jobs by name, over HTTP against a real coordinator.

let t: TestCoordinator
let alice: WebSession
beforeAll(async () => {
  t = await startTestCoordinator()
  alice = await webLogin(t)
})
afterAll(async () => t.stop())

const submit = async (fields: Record<string, unknown>) => {
  const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
  const res = await t.post('/api/jobs', { ...spec, ...fields }, t.token)
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: string }).id
}

test('the jobs list and the job page show name and labels; the search finds a name', async () => {
  const named = await submit({
    name: 'sweep <b>3</b>',
    labels: { exp: '3' },
    env: { SECRET: 's3cr3t-value' },
  })
  const other = await submit({ name: 'plot' })
  const list = await (await alice.get('/jobs?q=sweep')).text()
  expect(list).toContain(named)
  expect(list).not.toContain(other)
  // Escaped, never markup.
  expect(list).toContain('sweep &lt;b&gt;3&lt;/b&gt;')
  expect(list).toContain('exp=3')
  const page = await (await alice.get(`/jobs/${named}`)).text()
  expect(page).toContain('<dt>Name</dt>')
  expect(page).toContain('exp=3')
  expect(page).toContain('SECRET')
  expect(page).not.toContain('s3cr3t-value')
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connectWorker, startTestCoordinator, until, type TestCoordinator } from '../support/coordinator'
import { webLogin, type WebSession } from '../support/web-session'
import { signedResult, testWorker } from '../support/worker-keys'

// The dashboard's jobs list, job page, live stream, cancel and run form, over HTTP against a
// real coordinator (a raw worker socket plays the worker where a job must run).

let t: TestCoordinator
let alice: WebSession
let bob: WebSession
let bobToken: string
beforeAll(async () => {
  t = await startTestCoordinator()
  bobToken = await t.addUser('bob', 'bob-password')
  alice = await webLogin(t)
  bob = await webLogin(t, 'bob', 'bob-password')
})
afterAll(async () => t.stop())

const script = (name: string, token = t.token) =>
  t
    .post(
      '/api/jobs',
      {
        image: 'img',
        script: { name, contentBase64: Buffer.from('print(1)\n').toString('base64') },
        timeoutMs: 60_000,
        cpus: 1,
        memoryBytes: 64 * 1024 ** 2,
      },
      token,
    )
    .then(async (r) => ((await r.json()) as { id: string }).id)

/** Page text with hono's escapes of quotes undone, to compare with messages. */
const text = async (res: Response) => (await res.text()).replaceAll('&#39;', "'").replaceAll('&quot;', '"')

/** A multipart post of the run form, as a browser sends it. */
function runForm(s: WebSession, fields: Record<string, string>, files: Record<string, File[]>) {
  const body = new FormData()
  body.set('csrf', s.csrf)
  for (const [k, v] of Object.entries(fields)) body.set(k, v)
  for (const [k, list] of Object.entries(files)) for (const f of list) body.append(k, f)
  return fetch(`${t.base}/run`, {
    method: 'POST',
    headers: { cookie: s.cookie, origin: t.base },
    body,
    redirect: 'manual',
  })
}

type LiveEvent = { event: string; data: Record<string, unknown> }

/** A job's live stream, read event by event: `until` reads on until an event matches. */
async function openLive(s: WebSession, id: string, ms = 20_000) {
  const res = await fetch(`${t.base}/jobs/${id}/live`, {
    headers: { cookie: s.cookie, accept: 'text/event-stream' },
    signal: AbortSignal.timeout(ms),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  const seen: LiveEvent[] = []
  let buffer = ''
  return {
    seen,
    async until(match: (e: LiveEvent) => boolean): Promise<void> {
      for (;;) {
        if (seen.some(match)) return
        const { value, done } = await reader.read()
        if (done) throw new Error(`the stream ended without the event; got ${JSON.stringify(seen)}`)
        buffer += value
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const m = /^event: (\w+)\ndata: (.*)$/m.exec(block)
          if (m) seen.push({ event: m[1]!, data: JSON.parse(m[2]!) as Record<string, unknown> })
        }
      }
    },
  }
}

describe('the jobs list', () => {
  test('shows the user’s jobs only, filters by state, searches by id prefix or script name, pages', async () => {
    const train = await script('train_model.py')
    const plot = await script('plot.py')
    const other = await script('secret_of_bob.py', bobToken)
    expect((await alice.form(`/jobs/${plot}/cancel`, {})).status).toBe(303)
    const page = async (s: WebSession, q = '') => {
      const res = await s.get(`/jobs${q}`)
      expect(res.status).toBe(200)
      return res.text()
    }
    const all = await page(alice)
    expect(all).toContain(train)
    expect(all).toContain(plot)
    expect(all).not.toContain(other)
    expect(all).not.toContain('secret_of_bob')
    const cancelled = await page(alice, '?state=cancelled')
    expect(cancelled).toContain(plot)
    expect(cancelled).not.toContain(train)
    expect(await page(alice, '?q=TRAIN')).toContain(train)
    expect(await page(alice, '?q=TRAIN')).not.toContain(plot)
    const byId = await page(alice, `?q=${plot}`)
    expect(byId).toContain(plot)
    expect(byId).not.toContain(train)
    expect(await page(alice, `?q=${plot.slice(0, -1)}`)).toContain(plot)
    // An id is searched by its start only.
    expect(await page(alice, `?q=${plot.slice(1)}`)).not.toContain(plot)
    // Bob is no operator: asking for everyone's still shows only his.
    const bobs = await page(bob, '?all=1')
    expect(bobs).toContain(other)
    expect(bobs).not.toContain(train)
    // Alice is the operator: her toggle shows everyone's, with owners.
    const everyone = await page(alice, '?all=1')
    expect(everyone).toContain(other)
    expect(everyone).toContain('>bob<')
    // ...linking her own jobs' pages but not bob's (they answer her 404): his id is text.
    expect(everyone).toContain(`href="/jobs/${train}"`)
    expect(everyone).not.toContain(`href="/jobs/${other}"`)
    expect(everyone).toContain(`<code>${other}</code>`)
    // Paging: 50 a page, then an "older" link to the rest.
    for (let i = 0; i < 50; i++) await t.submit()
    const first = await page(alice)
    const older = /href="(\/jobs\?before=[^"]+)"/.exec(first)?.[1]?.replaceAll('&amp;', '&')
    expect(older).toBeDefined()
    expect(first).not.toContain(train)
    expect(await page(alice, older!.slice('/jobs'.length))).toContain(train)
  })
})

describe('a job’s page', () => {
  test('another user gets the API’s 404 for the page, the download, the live stream and the cancel', async () => {
    const id = await script('mine.py')
    const words = `no job '${id}' among yours`
    for (const path of [
      `/jobs/${id}`,
      `/jobs/${id}/outputs.tar`,
      `/jobs/${id}/live`,
      `/jobs/${id}/receipt.json`,
    ]) {
      const res = await bob.get(path)
      expect(res.status).toBe(404)
      expect(await text(res)).toContain(words)
    }
    const cancel = await bob.form(`/jobs/${id}/cancel`, {})
    expect(cancel.status).toBe(404)
    expect((await t.job(id)).state).toBe('queued')
    // A job that does not exist reads the same.
    const none = await bob.get('/jobs/nosuchjob123')
    expect(none.status).toBe(404)
    expect(await text(none)).toContain("no job 'nosuchjob123' among yours")
    expect((await alice.get(`/jobs/${id}`)).status).toBe(200)
  })

  test("an operator gets the API's 404 for another user's job page, output, live stream and receipt", async () => {
    const id = await script('bobs.py', bobToken)
    const words = `no job '${id}' among yours`
    // The API's rule: alice (the operator) gets a 404 for bob's job...
    const api = await fetch(`${t.base}/api/jobs/${id}`, { headers: { authorization: `Bearer ${t.token}` } })
    expect(api.status).toBe(404)
    // ...and the dashboard the same, though her jobs list shows it (see the list's test).
    for (const path of [
      `/jobs/${id}`,
      `/jobs/${id}/outputs.tar`,
      `/jobs/${id}/live`,
      `/jobs/${id}/receipt.json`,
    ]) {
      const res = await alice.get(path)
      expect(res.status).toBe(404)
      expect(await text(res)).toContain(words)
    }
    expect((await bob.get(`/jobs/${id}`)).status).toBe(200)
  })

  test('the page names its owner (the viewer) without scanning the jobs table', async () => {
    const id = await script('owner_is_viewer.py', bobToken)
    const queue = t.coord.store.queue
    const list = queue.list.bind(queue)
    let listings = 0
    queue.list = (q) => {
      listings++
      return list(q)
    }
    try {
      const res = await bob.get(`/jobs/${id}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toMatch(/Owner<\/dt>\s*<dd>bob<\/dd>/)
      expect(listings).toBe(0)
    } finally {
      queue.list = list
    }
  })

  test('cancel needs the CSRF token; with it the job is cancelled and the page shows it', async () => {
    const id = await script('long.py')
    expect((await alice.form(`/jobs/${id}/cancel`, {}, { csrf: false })).status).toBe(403)
    expect((await t.job(id)).state).toBe('queued')
    const page = await (await alice.get(`/jobs/${id}`)).text()
    expect(page).toContain(`action="/jobs/${id}/cancel"`)
    expect(page).toContain('no worker is connected')
    const res = await alice.form(`/jobs/${id}/cancel`, {})
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`/jobs/${id}`)
    expect((await t.job(id)).state).toBe('cancelled')
    const after = await (await alice.get(`/jobs/${id}`)).text()
    expect(after).toContain('data-field="state">cancelled<')
    expect(after).not.toContain(`action="/jobs/${id}/cancel"`)
  })

  test('an array member shows its array and siblings; a job --after another shows what it waits for', async () => {
    const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
    const made = (await (await t.post('/api/jobs', { ...spec, array: '0-2%2' }, t.token)).json()) as {
      array: string
      jobs: { id: string }[]
    }
    const member = await text(await alice.get(`/jobs/${made.jobs[1]!.id}`))
    expect(member).toContain(`data-array="${made.array}"`)
    expect(member).toContain('at most 2 running at once')
    for (const j of made.jobs) expect(member).toContain(`href="/jobs/${j.id}"`)
    const child = (await (
      await t.post('/api/jobs', { ...spec, after: [made.jobs[0]!.id] }, t.token)
    ).json()) as {
      id: string
    }
    const page = await text(await alice.get(`/jobs/${child.id}`))
    expect(page).toContain(`waits for ${made.jobs[0]!.id} (queued)`)
    expect(page).toContain('all to succeed')
    const lone = await text(await alice.get(`/jobs/${made.jobs[0]!.id}`))
    expect(lone).not.toContain('data-after')
  })

  test('a worker’s output and words are text: streamed live apart by stream, escaped on the page', async () => {
    // The earlier tests' queued jobs go first: only this test's job should reach the worker.
    for (const j of await t.coord.store.queue.list({ state: 'queued', limit: 500 }))
      await t.post(`/api/jobs/${j.id}/cancel`, {}, j.ownerName === 'bob' ? bobToken : t.token)
    const worker = testWorker('w-web-b-page')
    const c = await connectWorker(t, worker)
    try {
      const id = await script('xss.py')
      const assign = await c.next('job.assign')
      const lease = { jobId: assign.job.jobId, attempt: assign.job.attempt }
      expect(lease.jobId).toBe(id)
      c.send({ type: 'job.started', lease })
      await until(async () => (await t.job(id)).state === 'running', 'the job runs')
      const evil = '<script>alert(1)</script>'
      const send = (seq: number, s: 'stdout' | 'stderr', data: Buffer) =>
        c.send({ type: 'job.output', lease, seq, stream: s, dataBase64: data.toString('base64') })
      // Followed while it runs: the first chunk stored before the page opened, the rest live.
      send(0, 'stdout', Buffer.from(`${evil}\n`))
      await until(
        async () => (await t.coord.store.leases.output(id, 1, -1)).length === 1,
        'the chunk is stored',
      )
      const live = await openLive(alice, id)
      await live.until((e) => e.event === 'output')
      // "é" split between two chunks comes out whole.
      const e = Buffer.from('é\n')
      send(1, 'stderr', e.subarray(0, 1))
      send(2, 'stderr', e.subarray(1))
      await live.until((x) => x.event === 'output' && x.data['stream'] === 'stderr')
      // No signed result yet: the dashboard's receipt answers the API's 404, in the same words.
      const api = (path: string) =>
        fetch(`${t.base}/api${path}`, { headers: { authorization: `Bearer ${t.token}` } })
      const words = `job ${id} has no signed result yet (state: running)`
      const pageNone = await alice.get(`/jobs/${id}/receipt.json`)
      expect(pageNone.status).toBe(404)
      expect(await pageNone.text()).toContain(words)
      const apiNone = await api(`/jobs/${id}/receipt`)
      expect(apiNone.status).toBe(404)
      expect(await apiNone.json()).toMatchObject({ error: { code: 'no_receipt', message: words } })
      c.send(signedResult(worker, lease, { exitCode: 3, error: evil }))
      await live.until((x) => x.event === 'end')
      const outputs = live.seen.filter((x) => x.event === 'output').map((x) => x.data)
      expect(outputs).toEqual([
        { stream: 'stdout', text: `${evil}\n` },
        { stream: 'stderr', text: 'é\n' },
      ])
      expect(live.seen.at(-1)).toEqual({ event: 'end', data: { state: 'failed', exitCode: 3 } })
      const page = await (await alice.get(`/jobs/${id}`)).text()
      expect(page).not.toContain('<script>alert')
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
      // The receipt is shown and its signature checked against the worker's key.
      expect(page).toContain('data-receipt="verified"')
      const receipt = (await (await alice.get(`/jobs/${id}/receipt.json`)).json()) as { workerId: string }
      expect(receipt.workerId).toBe(worker.id)
      expect(await (await api(`/jobs/${id}/receipt`)).json()).toEqual(receipt)
      // No /out files: the download says why, as the API does.
      const tar = await alice.get(`/jobs/${id}/outputs.tar`)
      expect(tar.status).toBe(404)
      expect(await tar.text()).toContain('it wrote no files under /out')
    } finally {
      c.ws.close()
    }
  })
})

describe('the run form', () => {
  const py = (text = 'print("hello")\n', name = 'hello.py') => new File([text], name)
  const fields = { image: 'python:3.12-slim', cpus: '1', memory: '512m', timeout: '10m' }

  test('runs a script with its input files (over the 64 KiB default body limit) and opens its page', async () => {
    const data = new File([Buffer.alloc(100 * 1024, 'x')], 'data.csv')
    const res = await runForm(alice, { ...fields, args: '--n 3' }, { script: [py()], inputs: [data] })
    expect(res.status).toBe(303)
    const id = /^\/jobs\/([a-z0-9]+)$/.exec(res.headers.get('location') ?? '')?.[1]
    expect(id).toBeDefined()
    const job = await t.job(id!)
    expect(job).toMatchObject({
      scriptName: 'hello.py',
      args: ['--n', '3'],
      image: 'python:3.12-slim',
      cpus: 1,
    })
    expect(job.inputs?.bytes).toBeGreaterThan(100 * 1024)
    const row = await t.coord.store.queue.job(id!)
    expect(row?.script?.toString()).toBe('print("hello")\n')
  })

  test('an input field left empty (a browser still sends a nameless part) is no input', async () => {
    const res = await runForm(alice, fields, { script: [py()], inputs: [new File([], '')] })
    expect(res.status).toBe(303)
    const id = /^\/jobs\/([a-z0-9]+)$/.exec(res.headers.get('location') ?? '')?.[1]
    expect((await t.job(id!)).inputs).toBeNull()
  })

  test('errors come back on the form, in plain words, with what was typed', async () => {
    const alert = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1] ?? ''
    const none = await runForm(alice, fields, {})
    expect(none.status).toBe(400)
    expect(alert(await text(none))).toContain('choose the Python script')
    const notPy = await runForm(alice, fields, { script: [py('x', 'notes.txt')] })
    expect(notPy.status).toBe(400)
    expect(alert(await text(notPy))).toContain('is not a Python script')
    const memory = await runForm(alice, { ...fields, memory: 'lots' }, { script: [py()] })
    expect(memory.status).toBe(400)
    const memoryPage = await text(memory)
    expect(alert(memoryPage)).toContain("memory 'lots' is not a size")
    expect(memoryPage).toContain('value="lots"')
    // The API's schema: an image name with a space is refused with its words.
    const image = await runForm(alice, { ...fields, image: 'bad image' }, { script: [py()] })
    expect(image.status).toBe(400)
    expect(alert(await text(image))).toContain('image names may not contain spaces')
    const poor = await runForm(alice, { ...fields, cpus: '256', timeout: '7d' }, { script: [py()] })
    expect(poor.status).toBe(402)
    expect(alert(await text(poor))).toContain('You do not have enough credits')
    // Without the CSRF token nothing is submitted.
    const body = new FormData()
    body.set('script', py())
    const forged = await fetch(`${t.base}/run`, { method: 'POST', headers: { cookie: alice.cookie }, body })
    expect(forged.status).toBe(403)
  })
})

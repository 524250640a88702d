import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { out } from '../../src/cli/options'
import { endingLine, summary } from '../../src/cli/render'
import { startCoordinator } from '../../src/coordinator/server'
import { CloseCode } from '../../src/protocol/worker'
import { tempDir } from '../e2e/harness'
import {
  connect,
  connectWorker,
  hello,
  startTestCoordinator,
  type TestCoordinator,
} from '../support/coordinator'
import { testWorker } from '../support/worker-keys'

// Free text from users and workers: refused on the way in where it names something, escaped on
// the way out to other people's terminals. A real coordinator on port 0, real sockets.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

type ErrorReply = { error: { code: string; message: string } }
const ESC = '\x1b'

describe('names are checked on the way in', () => {
  test.each([
    ['escape codes', `evil${ESC}]0;pwned\x07`, 'worker names may not contain control characters'],
    [
      'a newline (a forged log line)',
      'w1\n2024-01-01T00:00:00Z worker x ready',
      'worker names may not contain control characters',
    ],
    ['a direction override', 'gpu\u202eexe', 'worker names may not contain Unicode direction controls'],
  ])('a worker name with %s is refused at hello, saying which field and why', async (_what, name, why) => {
    const t = (current = await startTestCoordinator())
    const c = connect(t.coord.wsPort, t.token)
    expect(await c.opened).toBe(true)
    c.send({ ...hello(testWorker('free-text-worker')), name })
    const err = await c.next('error')
    expect(err.code).toBe('bad_message')
    expect(err.message).toContain(why)
    expect(err.message).toContain('name')
    expect(await c.closed).toEqual({ code: CloseCode.protocolError, reason: 'bad_message' })
    expect(await t.coord.store.workers.get('free-text-worker')).toBeUndefined()
  })

  test.each([
    [
      'script name ..',
      { script: { name: '..', contentBase64: '' } },
      "script.name: script names may not be '.' or '..'",
    ],
    [
      'script name .',
      { script: { name: '.', contentBase64: '' } },
      "script.name: script names may not be '.' or '..'",
    ],
    [
      'script name with ESC',
      { script: { name: `a${ESC}[2J.py`, contentBase64: '' } },
      'script.name: script names may not contain control characters',
    ],
    ['image with NUL', { image: 'python\0:3' }, 'image: image names may not contain control characters'],
    [
      'image with ESC',
      { image: `python${ESC}[31m` },
      'image: image names may not contain control characters',
    ],
    ['image with a space', { image: 'python 3' }, 'image: image names may not contain spaces'],
    [
      'image with a bidi override',
      { image: 'py\u202ethon' },
      'image: image names may not contain Unicode direction controls',
    ],
  ])('a submission with a %s is refused with 400', async (_what, fields, message) => {
    const t = (current = await startTestCoordinator())
    const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
    const res = await t.post('/api/jobs', { ...spec, ...fields }, t.token)
    expect(res.status).toBe(400)
    expect(((await res.json()) as ErrorReply).error).toEqual({ code: 'bad_request', message })
  })

  test('a user name with control characters is refused at sign-up', async () => {
    const t = (current = await startTestCoordinator())
    const res = await t.post('/api/auth/register', { user: `ev${ESC}il`, password: 'password-123' })
    expect(res.status).toBe(400)
    expect(((await res.json()) as ErrorReply).error.message).toMatch(/^user: user names are/)
  })
})

describe('text from the coordinator is escaped on the way out', () => {
  test('a worker name stored by an older version, with control characters, is shown escaped', async () => {
    const t = (current = await startTestCoordinator())
    const worker = testWorker('free-text-old-1')
    const w = await connectWorker(t, worker)
    // What an older coordinator accepted and kept.
    const alice = (await t.coord.store.accounts.byName('alice'))!
    const evil = `old${ESC}[2J${ESC}]0;owned\x07\nforged line`
    await t.coord.store.workers.upsert(worker.id, alice.id, evil, Date.now(), worker.key.publicKey)
    const id = await t.submit()
    const { job } = await w.next('job.assign')
    w.send({ type: 'job.started', lease: { jobId: job.jobId, attempt: job.attempt } })
    const view = { ...(await t.job(id)), error: `failed${ESC}[31m\rred` }
    expect(view.worker).toBe(evil)

    const text = summary(view)
    expect(text).not.toContain(ESC)
    expect(text).not.toContain('\x07')
    expect(text).not.toContain('\r')
    expect(text).toContain('worker   old\\x1b[2J\\x1b]0;owned\\x07\\x0aforged line (attempt 1)')
    expect(text).toContain('note     failed\\x1b[31m\\x0dred')
    // Every line is one the renderer made: the name's newline started none.
    expect(text.split('\n').every((l) => /^(job |  [a-z]+ +)/.test(l))).toBe(true)
    expect(endingLine({ ...view, outcome: 'error' })).toBe(`job ${id} failed: failed\\x1b[31m\\x0dred`)

    // And whatever reaches the terminal through `out` is escaped too.
    const write = spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      out(`raw ${ESC}[2J\u009b\u202e`)
      expect(write).toHaveBeenCalledWith('raw \\x1b[2J\\u009b\\u202e\n')
    } finally {
      write.mockRestore()
    }
  })

  test("the coordinator's log shows what workers sent escaped: no forged lines, no escape codes", async () => {
    const dir = tempDir('free-text-log')
    const logs: string[] = []
    const coord = await startCoordinator({
      host: '127.0.0.1',
      httpPort: 0,
      wsPort: 0,
      dataDir: dir,
      log: (l) => logs.push(l),
    })
    try {
      const base = `http://127.0.0.1:${coord.httpPort}`
      const creds = { user: 'alice', password: 'password-123' }
      const post = (path: string) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(creds),
        })
      await post('/api/auth/register')
      const { token } = (await (await post('/api/auth/login')).json()) as { token: string }
      const c = connect(coord.wsPort, token)
      expect(await c.opened).toBe(true)
      c.send({ ...hello(testWorker('free-text-log-1')), docker: `27${ESC}[2J\n2024 forged` })
      await c.next('welcome')
      c.ws.close(1000, `bye${ESC}]0;x\x07`)
      await c.closed
      await Bun.sleep(100)
      const lines = logs.filter((l) => l.includes('free-text-log-1'))
      expect(lines).toHaveLength(2)
      for (const l of lines) expect(l).not.toMatch(/[\x00-\x1f]/)
      expect(lines[0]).toContain('docker 27\\x1b[2J\\x0a2024 forged')
      expect(lines[1]).toContain('bye\\x1b]0;x\\x07')
    } finally {
      await coord.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { type Lab, labUnavailable, startLab } from '../support/netns'
import { BB_IMAGE, type Proc, gridx, spawnGridx, tempDir } from './harness'

// Three "machines" in network namespaces on a bridge: the coordinator (--self-signed) on .1, a
// worker joined by one pasted line on .2, a user on .3. No CA file is copied anywhere; names do
// not resolve between them, so the token must carry addresses.
const skip = labUnavailable()
if (skip) console.warn(`skipping join tests: ${skip}`)

const ADDR = { coord: '10.231.0.1', work: '10.231.0.2', user: '10.231.0.3' }
const FINGERPRINT = /SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/
let lab: Lab
let serve: Proc
let coordHome: string
let token: string
let fingerprint: string
const procs: Proc[] = []
const homes: string[] = []

function home(name: string): string {
  const h = tempDir(`join-${name}`)
  homes.push(h)
  return h
}

/** Runs gridx on a lab host with its own GRIDX_HOME (and nothing else from this machine). */
function on(host: keyof typeof ADDR, args: string[], h: string) {
  return gridx(args, { GRIDX_HOME: h }, { wrap: lab.on(host), timeoutMs: 90_000 })
}

/** `gridx serve --self-signed` on the coordinator host; resolves with its banner's token and fingerprint. */
async function startServe(h: string): Promise<{ p: Proc; token: string; fingerprint: string }> {
  const p = spawnGridx(['serve', '--self-signed'], { GRIDX_HOME: h }, lab.on('coord'))
  procs.push(p)
  const [, t] = await p.waitFor(/^ {2}gridx work --join (gx1_\S+)$/m, 30_000)
  return { p, token: t!, fingerprint: FINGERPRINT.exec(p.stderr())![1]! }
}

/** The `gridx work --join` line an operator's `gridx invite --worker` printed, as its token. */
async function workerInvite(h: string, extra: string[]): Promise<string> {
  const r = await on('work', ['invite', '--worker', ...extra], h)
  expect(r.code).toBe(0)
  return /^gridx work --join (gx1_\S+)$/m.exec(r.stdout)![1]!
}

describe.skipIf(skip !== undefined)('joining by token across machines (network namespaces)', () => {
  let workHome: string
  let userHome: string
  let expiring: string
  let expiringAt: number

  beforeAll(async () => {
    lab = startLab(ADDR)
    coordHome = home('coord')
    ;({ p: serve, token, fingerprint } = await startServe(coordHome))
  }, 60_000)

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')))
    lab?.down()
    for (const h of homes) rmSync(h, { recursive: true, force: true })
  })

  test("one pasted 'gridx work --join' line makes a worker that runs a job submitted after 'gridx register --join'", async () => {
    // The token names the coordinator's lab address (not loopback, not a name) and its certificate.
    await serve.waitFor(new RegExp(`the token pins this certificate \\(SHA-256 ${fingerprint}\\)`))
    workHome = home('work')
    const worker = spawnGridx(
      ['work', '--join', token, '--slots', '1', '--images', 'gridx-local/*'],
      { GRIDX_HOME: workHome },
      lab.on('work'),
    )
    procs.push(worker)
    // No terminal and no --user: the machine gets its own account, named and said.
    await worker.waitFor(/registered the account '[a-z0-9_.-]+' for this machine/, 60_000)
    await worker.waitFor(/waiting for jobs/, 60_000)
    userHome = home('user')
    const reg = await on(
      'user',
      ['register', '--join', token, '--user', 'alice', '--password', 'pw-123456'],
      userHome,
    )
    expect(reg.stderr).toContain(`pinned its certificate (SHA-256 ${fingerprint})`)
    expect(reg.code).toBe(0)
    // Later commands carry no address, no CA file and no password: the login remembered it all.
    const run = await on(
      'user',
      ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo ran on the joined worker'],
      userHome,
    )
    expect(run.stderr).toBe('')
    expect(run.stdout).toBe('ran on the joined worker\n')
    expect(run.code).toBe(0)
    // The worker's account joined first, so it is the operator: it makes a line that expires soon.
    const made = await on('work', ['invite', '--worker', '--expires', '1m'], workHome)
    expect(made.code).toBe(0)
    expiringAt = Date.now() + 60_000
    expiring = /^gridx work --join (gx1_\S+)$/m.exec(made.stdout)![1]!
  }, 150_000)

  test('a used-up token is refused saying so, before anything starts', async () => {
    const once = await workerInvite(workHome, ['--uses', '1'])
    const first = await on(
      'user',
      ['register', '--join', once, '--user', 'bob', '--password', 'pw-123456'],
      home('bob'),
    )
    expect(first.code).toBe(0)
    const again = await on('user', ['work', '--join', once], home('again'))
    expect(again.code).not.toBe(0)
    expect(again.stderr).toMatch(
      /the join token was refused: this invite has been used up \(1 of 1 accounts\)/,
    )
  }, 120_000)

  test('a coordinator with another certificate at the same address is refused, naming both fingerprints', async () => {
    await serve.stop()
    const impostor = await startServe(home('impostor'))
    expect(impostor.fingerprint).not.toBe(fingerprint)
    const both = `fingerprint ${impostor.fingerprint}, but ${fingerprint} is the one pinned`
    // A saved login (pinned at its join), and a fresh join with the old token.
    const jobs = await on('user', ['jobs'], userHome)
    expect(jobs.code).not.toBe(0)
    expect(jobs.stderr).toContain(both)
    const join = await on(
      'user',
      ['register', '--join', token, '--user', 'mallory', '--password', 'pw-123456'],
      home('m'),
    )
    expect(join.code).not.toBe(0)
    expect(join.stderr).toContain(both)
    // The running worker's socket is pinned too: it stops, saying why, rather than serve the impostor.
    const worker = procs.find((p) => p.stderr().includes('waiting for jobs'))!
    await worker.waitFor(new RegExp(both.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 90_000)
    expect(await worker.proc.exited).not.toBe(0)
    await impostor.p.stop()
    ;({ p: serve } = await startServe(coordHome))
  }, 180_000)

  test('an expired token is refused saying so', async () => {
    await Bun.sleep(Math.max(0, expiringAt - Date.now() + 1500))
    const r = await on('user', ['work', '--join', expiring], home('late'))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/the join token was refused: this invite expired at \d{4}-/)
  }, 120_000)
})

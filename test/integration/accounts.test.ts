import { afterEach, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { type Coordinator, startCoordinator } from '../../src/coordinator/server'
import type { Settings } from '../../src/coordinator/settings'
import { AuditView, ErrorBody, InviteView, MeView, NewInvite } from '../../src/protocol/api'
import { tempDir } from '../e2e/harness'

// A real coordinator on loopback ports, a real SQLite file; the client address comes from the socket.
let dir: string | undefined
let coord: Coordinator | undefined
let logs: string[] = []

afterEach(async () => {
  await coord?.stop()
  coord = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

/** Starts (or, with the same `dir`, restarts) a coordinator; returns its base URL. */
async function start(settings: Partial<Settings> = {}): Promise<string> {
  await coord?.stop()
  dir ??= tempDir('accounts')
  logs = []
  coord = await startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir: dir,
    settings,
    log: (line) => void logs.push(line),
  })
  return `http://127.0.0.1:${coord.httpPort}`
}

type Answer = { status: number; headers: Headers; json: unknown }

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, json: await res.json().catch(() => null) }
}

/** POSTs from another loopback source address (127.0.0.0/8 is all this machine), with curl. */
async function postFrom(source: string, url: string, body: unknown): Promise<Answer> {
  const p = Bun.spawn(
    [
      'curl',
      '-s',
      '-D',
      '-',
      '--interface',
      source,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify(body),
      url,
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  const text = await new Response(p.stdout).text()
  if ((await p.exited) !== 0) throw new Error(`curl failed: ${await new Response(p.stderr).text()}`)
  const [head = '', rest = ''] = text.split(/\r\n\r\n/, 2)
  const lines = head.split('\r\n')
  const headers = new Headers(
    lines
      .slice(1)
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]),
  )
  return { status: Number(lines[0]!.split(' ')[1]), headers, json: JSON.parse(rest) }
}

const pw = (user: string) => `${user} password`
const errorOf = (a: Answer) => ErrorBody.parse(a.json).error

async function login(base: string, user: string): Promise<string> {
  const r = await call(base, 'POST', '/api/auth/login', { user, password: pw(user) })
  expect(r.status).toBe(200)
  return (r.json as { token: string }).token
}
async function operator(base: string, user = 'op'): Promise<string> {
  expect((await call(base, 'POST', '/api/auth/register', { user, password: pw(user) })).status).toBe(201)
  return login(base, user)
}

describe('sign-up on a coordinator started with the defaults', () => {
  test("the issue's fifty throwaway accounts are refused: nothing created, nothing minted", async () => {
    const base = await start()
    const op = await operator(base)
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(base, 'POST', '/api/auth/register', { user: `sock${i}`, password: pw('sock') }),
      ),
    )
    for (const a of answers) {
      expect(a.status).toBe(403)
      expect(errorOf(a).code).toBe('invite_required')
      expect(errorOf(a).message).toContain('gridx register --invite CODE')
    }
    const audit = AuditView.parse((await call(base, 'GET', '/api/credits/audit', undefined, op)).json)
    expect(audit).toMatchObject({ minted: 100_000, ok: true, operators: ['op'] })
  })

  test('an operator invites; the invite grants its amount once; two sign-ups at once make one account', async () => {
    const base = await start()
    const op = await operator(base)
    const made = await call(base, 'POST', '/api/invites', { grantMc: 2_500 }, op)
    expect(made.status).toBe(201)
    const invite = NewInvite.parse(made.json)
    expect(invite).toMatchObject({ grantMc: 2_500, uses: 1, used: 0, state: 'active', createdBy: 'op' })
    expect(Date.parse(invite.expiresAt) - Date.parse(invite.createdAt)).toBe(7 * 86_400_000)
    const [a, b] = await Promise.all(
      ['bob', 'carol'].map((user) =>
        call(base, 'POST', '/api/auth/register', { user, password: pw(user), invite: invite.code }),
      ),
    )
    expect([a!.status, b!.status].sort()).toEqual([201, 403])
    const won = [a!, b!].find((x) => x.status === 201)!
    const lost = [a!, b!].find((x) => x.status === 403)!
    expect(errorOf(lost).code).toBe('invite_used')
    expect(won.json).toMatchObject({ operator: false, grantMc: 2_500 })
    const name = (won.json as { user: string }).user
    const token = await login(base, name)
    expect(MeView.parse((await call(base, 'GET', '/api/me', undefined, token)).json)).toEqual({
      user: name,
      operator: false,
    })
    // Not an operator: may neither invite nor list invites.
    for (const [method, path] of [
      ['POST', '/api/invites'],
      ['GET', '/api/invites'],
    ] as const) {
      const denied = await call(base, method, path, method === 'POST' ? {} : undefined, token)
      expect(denied.status).toBe(403)
      expect(errorOf(denied).message).toContain('is not an operator')
    }
    const list = InviteView.array().parse((await call(base, 'GET', '/api/invites', undefined, op)).json)
    expect(list.map((i) => [i.id, i.state, i.usedBy])).toEqual([[invite.id, 'used', [name]]])
    expect(JSON.stringify(list)).not.toContain(invite.code)
  })

  test('revoking: the code stops working; an unknown id is a 404; bad invite requests are 400s', async () => {
    const base = await start()
    const op = await operator(base)
    const invite = NewInvite.parse((await call(base, 'POST', '/api/invites', { uses: 3 }, op)).json)
    const revoked = await call(base, 'POST', `/api/invites/${invite.id}/revoke`, undefined, op)
    expect(InviteView.parse(revoked.json).state).toBe('revoked')
    const r = await call(base, 'POST', '/api/auth/register', {
      user: 'bob',
      password: pw('bob'),
      invite: invite.code,
    })
    expect([r.status, errorOf(r).code]).toEqual([403, 'invite_revoked'])
    const missing = await call(base, 'POST', '/api/invites/nosuchinvite/revoke', undefined, op)
    expect([missing.status, errorOf(missing).code]).toEqual([404, 'invite_not_found'])
    for (const bad of [
      { uses: 0 },
      { grantMc: -1 },
      { expiresInMs: 1000 },
      { expiresInMs: 400 * 86_400_000 },
    ]) {
      expect((await call(base, 'POST', '/api/invites', bad, op)).status).toBe(400)
    }
  })

  test('--signup closed: no one after the first; the operator is told no invite could be used', async () => {
    const base = await start({ signup: 'closed' })
    const op = await operator(base)
    const r = await call(base, 'POST', '/api/auth/register', { user: 'bob', password: pw('bob') })
    expect([r.status, errorOf(r).code]).toEqual([403, 'signup_closed'])
    const inv = await call(base, 'POST', '/api/invites', {}, op)
    expect([inv.status, errorOf(inv).code]).toEqual([409, 'signup_closed'])
  })
})

describe('operators across restarts', () => {
  test('--admin takes effect for existing accounts at the next start, and a dropped name loses it', async () => {
    let base = await start({ signup: 'open' })
    await operator(base, 'alice')
    await call(base, 'POST', '/api/auth/register', { user: 'bob', password: pw('bob') })
    const me = async (user: string) =>
      MeView.parse((await call(base, 'GET', '/api/me', undefined, await login(base, user))).json).operator
    expect(await me('bob')).toBe(false)
    base = await start({ signup: 'open', admins: ['bob', 'ghost'] })
    expect(logs).toContain('--admin ghost: no such account; create it, then restart')
    expect(logs).toContain('operators: alice, bob')
    expect(await me('bob')).toBe(true)
    // Whoever registers the missing name now does not become an operator by it.
    await call(base, 'POST', '/api/auth/register', { user: 'ghost', password: pw('ghost') })
    expect(await me('ghost')).toBe(false)
    base = await start({ signup: 'open' })
    expect([await me('alice'), await me('bob'), await me('ghost')]).toEqual([true, false, false])
  })
})

describe('invites made by an operator who is one no longer', () => {
  test('mint no account once their maker is dropped from --admin, and are listed as void', async () => {
    let base = await start({ admins: ['bob'] })
    const alice = await operator(base, 'alice')
    const forBob = NewInvite.parse((await call(base, 'POST', '/api/invites', {}, alice)).json)
    const reg = (user: string, invite: string) =>
      call(base, 'POST', '/api/auth/register', { user, password: pw(user), invite })
    expect((await reg('bob', forBob.code)).status).toBe(201)
    base = await start({ admins: ['bob'] })
    const bob = await login(base, 'bob')
    const made = await call(base, 'POST', '/api/invites', { uses: 10_000, grantMc: 1_000_000 }, bob)
    expect(made.status).toBe(201)
    const bobs = NewInvite.parse(made.json)
    const fromAlice = NewInvite.parse((await call(base, 'POST', '/api/invites', { uses: 5 }, alice)).json)

    base = await start()
    const refused = await reg('mallory', bobs.code)
    expect(refused.status).toBe(403)
    expect(errorOf(refused)).toEqual({
      code: 'invite_void',
      message:
        'this invite was made by someone who is no longer an operator of this coordinator: ask an operator for a new one',
    })
    expect(await coord!.store.accounts.byName('mallory')).toBeUndefined()
    // The operator's own invites still admit.
    expect((await reg('carol', fromAlice.code)).status).toBe(201)
    const list = InviteView.array().parse((await call(base, 'GET', '/api/invites', undefined, alice)).json)
    expect(list.find((i) => i.id === bobs.id)?.state).toBe('void')
    expect(list.find((i) => i.id === fromAlice.id)?.state).toBe('active')
  })
})

describe('password guessing over the socket', () => {
  test('429 with Retry-After for the guesser; the owner logs in from their own address at once', async () => {
    const base = await start()
    await operator(base, 'alice')
    const url = `${base}/api/auth/login`
    const wrong = { user: 'alice', password: 'not her password' }
    const statuses: number[] = []
    let last: Answer | undefined
    for (let i = 0; i < 8; i++) {
      last = await call(base, 'POST', '/api/auth/login', wrong)
      statuses.push(last.status)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429])
    const wait = Number(last!.headers.get('retry-after'))
    expect(wait).toBeGreaterThan(0)
    expect(wait).toBeLessThanOrEqual(15)
    expect(errorOf(last!).code).toBe('too_many_attempts')
    expect(errorOf(last!).message).toMatch(
      /^too many failed logins from your address: wait \d+ s and try again/,
    )
    // Even the right password is refused from the guesser's address while it waits.
    expect(
      (await call(base, 'POST', '/api/auth/login', { user: 'alice', password: pw('alice') })).status,
    ).toBe(429)
    // The owner, elsewhere, is not held up.
    expect((await postFrom('127.0.0.2', url, { user: 'alice', password: pw('alice') })).status).toBe(200)
  })

  test('guessing from several addresses holds up a new address for seconds, a known one not at all', async () => {
    const base = await start()
    await operator(base, 'alice')
    const url = `${base}/api/auth/login`
    const right = { user: 'alice', password: pw('alice') }
    expect((await postFrom('127.0.0.2', url, right)).status).toBe(200)
    const guessFrom = async (sources: string[]) => {
      for (const source of sources)
        for (let i = 0; i < 5; i++) await postFrom(source, url, { user: 'alice', password: 'a guess!!' })
    }
    await guessFrom(['127.0.0.3', '127.0.0.4', '127.0.0.5'])
    const held = await postFrom('127.0.0.9', url, right)
    expect(held.status).toBe(429)
    expect(errorOf(held).message).toStartWith("too many failed logins for 'alice' from other addresses")
    // Where alice logged in before, she is let in (and her success gives the account its budget back).
    expect((await postFrom('127.0.0.2', url, right)).status).toBe(200)
    await guessFrom(['127.0.0.6', '127.0.0.7', '127.0.0.8'])
    const again = await postFrom('127.0.0.9', url, right)
    expect(again.status).toBe(429)
    const wait = Number(again.headers.get('retry-after'))
    expect(wait).toBeGreaterThan(0)
    expect(wait).toBeLessThanOrEqual(10)
    await Bun.sleep(wait * 1000)
    expect((await postFrom('127.0.0.9', url, right)).status).toBe(200)
  })
})

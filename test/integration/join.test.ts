import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { logout, register, whoami } from '../../src/cli/account'
import { workerAccount } from '../../src/cli/join'
import { openSession } from '../../src/cli/session'
import { decodeJoinToken, encodeJoinToken } from '../../src/client/join-token'
import { type Coordinator, startCoordinator } from '../../src/coordinator/server'
import type { Settings } from '../../src/coordinator/settings'
import { GridError } from '../../src/errors'
import { loadServerTls } from '../../src/tls/server-cert'
import { tempDir } from '../e2e/harness'
import { selfSigned, type SelfSigned } from '../support/certs'

const PASSWORD = 'password-123'
const dirs: string[] = []
const coords: Coordinator[] = []
let certA: SelfSigned
let certB: SelfSigned
let fpA: string
let fpB: string

function dir(prefix: string): string {
  const d = tempDir(prefix)
  dirs.push(d)
  return d
}

/** A real coordinator over real TLS (a self-signed certificate for a name, not for 127.0.0.1). */
async function coordinator(
  cert: SelfSigned,
  settings: Partial<Settings> = {},
  httpPort = 0,
): Promise<Coordinator> {
  const c = await startCoordinator({
    host: '127.0.0.1',
    httpPort,
    wsPort: 0,
    dataDir: dir('join-coord'),
    tls: { cert: cert.cert, key: cert.key },
    settings,
    log: () => undefined,
  })
  coords.push(c)
  return c
}

/** Runs a CLI command function with this client's GRIDX_HOME (commands read the environment). */
async function as<T>(home: string, run: () => Promise<T>): Promise<T> {
  const saved = process.env['GRIDX_HOME']
  process.env['GRIDX_HOME'] = home
  try {
    return await run()
  } finally {
    if (saved === undefined) delete process.env['GRIDX_HOME']
    else process.env['GRIDX_HOME'] = saved
  }
}

async function refusal(p: Promise<unknown>): Promise<GridError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GridError) return err
    throw err
  }
  throw new Error('it was not refused')
}

/** An operator account and an invite of theirs, through the store (as 'gridx invite' makes one). */
async function invite(c: Coordinator, opts: { uses?: number; expiresAt?: number } = {}): Promise<string> {
  if (!(await c.store.accounts.exist())) {
    await c.store.accounts.create(
      { id: 'op', name: 'op', passwordHash: 'x', createdAt: Date.now() },
      { signup: 'invite', grant: 0 },
    )
  }
  const now = Date.now()
  return (
    await c.store.invites.create('op', {
      grantMc: 1000,
      uses: opts.uses ?? 3,
      expiresAt: opts.expiresAt ?? now + 3_600_000,
      now,
    })
  ).code
}

const url = (c: Coordinator) => `https://127.0.0.1:${c.httpPort}`

beforeAll(() => {
  const d = dir('join-certs')
  // Neither covers 127.0.0.1: a pin replaces the host-name check, as a token may name an address.
  certA = selfSigned(d, 'a', ['grid-a.example'])
  certB = selfSigned(d, 'b', ['grid-a.example'])
  fpA = loadServerTls(certA.certPath, join(d, 'a.key')).leaf.fingerprint256
  fpB = loadServerTls(certB.certPath, join(d, 'b.key')).leaf.fingerprint256
})
afterEach(() => {
  for (const k of ['GRIDX_USER', 'GRIDX_PASSWORD']) delete process.env[k]
})
afterAll(async () => {
  await Promise.all(coords.map((c) => c.stop().catch(() => undefined)))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('trust is remembered', () => {
  test('after login --ca-cert, later commands trust the coordinator with no flag; logout forgets it', async () => {
    const local = selfSigned(dir('join-localhost'), 'local', ['127.0.0.1'])
    const c = await coordinator(local, { signup: 'open' })
    const home = dir('join-user')
    const flags = { coordinator: url(c), user: 'alice', password: PASSWORD }
    expect(await as(home, () => register({ ...flags, caCert: local.certPath } as never))).toBe(0)
    // What every later command does (submit, jobs, logs -f, work...): a session with no --ca-cert.
    expect(await as(home, () => whoami({}))).toBe(0)
    expect(await as(home, () => openSession({}).api.jobs())).toEqual([])
    // The content is kept, so the copy may go; the file stays private.
    const file = join(home, 'credentials.json')
    expect(readFileSync(file, 'utf8')).toContain(JSON.stringify(local.cert.trim()).slice(1, 60))
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(await as(home, () => logout({}))).toBe(0)
    expect(readFileSync(file, 'utf8')).not.toContain('BEGIN CERTIFICATE')
    const after = await refusal(as(home, () => openSession({ coordinator: url(c) }).api.health()))
    expect(after.code).toBe('tls_untrusted')
  })
})

describe('join tokens against a real coordinator over TLS', () => {
  test('register --join pins the certificate (no CA file, an address the certificate does not name) and later commands use the pin', async () => {
    const c = await coordinator(certA)
    const token = encodeJoinToken({
      urls: ['https://127.0.0.1:1', url(c)],
      fingerprint: fpA,
      invite: await invite(c),
    })
    const home = dir('join-user')
    // The first address answers nothing: the next one is used.
    expect(await as(home, () => register({ join: token, user: 'bob', password: PASSWORD }))).toBe(0)
    const saved = JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')) as {
      logins: Record<string, Record<string, { pin?: { fingerprint: string }; ca?: unknown }>>
    }
    const login = Object.values(saved.logins[url(c)] ?? {})[0]
    expect(login?.pin?.fingerprint).toBe(fpA)
    expect(login?.ca).toBeUndefined()
    expect(await as(home, () => whoami({}))).toBe(0)
    // Without the pin the same coordinator is not trusted: the pin is what made it work.
    const plain = await refusal(as(dir('join-user'), () => openSession({ coordinator: url(c) }).api.health()))
    expect(plain.code).toBe('tls_untrusted')
  })

  test('a coordinator with another certificate at the pinned address is refused, naming both fingerprints', async () => {
    const a = await coordinator(certA)
    const home = dir('join-user')
    const token = encodeJoinToken({ urls: [url(a)], fingerprint: fpA, invite: await invite(a) })
    await as(home, () => register({ join: token, user: 'carol', password: PASSWORD }))
    const port = a.httpPort
    await a.stop()
    coords.splice(coords.indexOf(a), 1)
    // The same address now serves another certificate (for the same name).
    const b = await coordinator(certB, {}, port)
    expect(b.httpPort).toBe(port)
    for (const run of [() => whoami({}), () => register({ join: token, user: 'dave', password: PASSWORD })]) {
      const err = await refusal(as(home, run))
      expect(err.code).toBe('tls_pin_mismatch')
      expect(err.message).toContain(`fingerprint ${fpB}, but ${fpA} is the one pinned`)
    }
  })

  test('expired, used-up and revoked tokens are refused saying so', async () => {
    const c = await coordinator(certA)
    const expired = await invite(c, { expiresAt: Date.now() - 1000 })
    const once = await invite(c, { uses: 1 })
    const revoked = await invite(c)
    const id = (await c.store.invites.list(Date.now())).find((i) => i.state === 'active' && i.uses === 3)!.id
    await c.store.invites.revoke(id, Date.now())
    const tok = (code: string) => encodeJoinToken({ urls: [url(c)], fingerprint: fpA, invite: code })
    const reg = (code: string, user: string) =>
      as(dir('join-user'), () => register({ join: tok(code), user, password: PASSWORD }))
    expect(await reg(once, 'erin')).toBe(0)
    const cases: [string, string, RegExp][] = [
      [expired, 'invite_expired', /^the join token was refused: this invite expired at \d{4}-/],
      [once, 'invite_used', /^the join token was refused: this invite has been used up \(1 of 1 accounts\)/],
      [revoked, 'invite_revoked', /^the join token was refused: this invite was revoked/],
    ]
    for (const [code, id, text] of cases) {
      const err = await refusal(reg(code, 'frank'))
      expect(err.code).toBe(id)
      expect(err.message).toMatch(text)
    }
  })

  test('a worker joining with nobody to ask gets an account of its own, its password saved 0600, reused on the next start', async () => {
    const c = await coordinator(certA)
    const token = decodeJoinToken(
      encodeJoinToken({ urls: [url(c)], fingerprint: fpA, invite: await invite(c, { uses: 1 }) }),
    )
    const home = dir('join-worker')
    const joinAs = () =>
      as(home, async () => {
        const { joinSession } = await import('../../src/cli/join')
        const s = await joinSession(token, {})
        return workerAccount({ s, token })
      })
    const first = await joinAs()
    expect(first.user).toMatch(/^[a-z0-9][a-z0-9_.-]{1,31}$/)
    const file = join(home, 'credentials.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toContain(first.password)
    // The invite had one use, spent: a second start logs in with the saved password instead.
    const again = await joinAs()
    expect(again).toEqual(first)
    expect(await c.store.accounts.byName(first.user)).toBeDefined()
  })
})

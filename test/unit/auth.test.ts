import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { Auth, tokenHash } from '../../src/coordinator/auth'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import type { Store } from '../../src/coordinator/store'
import { GridError } from '../../src/errors'
import { closeStore, ENGINES, rowsOf } from '../support/stores'

const TTL = 60_000
const alice = { user: 'alice', password: 'correct horse battery' }

const START = 1_700_000_000_000

// argon2id is slow on purpose, so one store and one registered user serve every test.
let store: Store
let time = START
let auth: Auth
let aliceId: string

/** The GridError a call throws or rejects with; fails the test when it succeeds. */
async function failure(fn: () => unknown): Promise<GridError> {
  try {
    await fn()
  } catch (err) {
    expect(err).toBeInstanceOf(GridError)
    return err as GridError
  }
  throw new Error('expected a GridError')
}

describe.each(ENGINES)('$name', (engine) => {
  beforeAll(async () => {
    // The clock as the previous engine's tests left it would date this engine's tokens.
    time = START
    store = await engine.open()
    // Admission by invite has its own tests (signup.test.ts); these are about accounts and tokens.
    auth = new Auth(store, { now: () => time }, { ...DEFAULT_SETTINGS, signup: 'open', tokenTtlMs: TTL })
    aliceId = (await auth.register(alice)).id
  })
  beforeEach(() => {
    time = START
  })
  afterAll(async () => {
    await closeStore(store)
  })

  describe('Auth.register', () => {
    test('creates the account at the clock’s time with an argon2id hash, never the password', async () => {
      time = START + 5
      const bob = { user: 'bob', password: 'bobs secret password' }
      const user = await auth.register(bob)
      expect(user.name).toBe('bob')
      expect(user.createdAt).toBe(START + 5)
      expect(user.id).toMatch(/^[a-z2-9]{12}$/)
      expect(user.id).not.toBe(aliceId)
      expect(user.passwordHash).toStartWith('$argon2id$')
      expect(user.passwordHash).not.toContain(bob.password)
      expect(await Bun.password.verify(bob.password, user.passwordHash)).toBe(true)
      expect((await store.accounts.byName('bob'))?.id).toBe(user.id)
    })

    test('a taken name is a 409', async () => {
      const err = await failure(() => auth.register({ user: 'alice', password: 'another password' }))
      expect(err.status).toBe(409)
      expect(err.code).toBe('user_exists')
    })
  })

  describe('Auth.login', () => {
    test('issues a token of at least 256 random bits that expires after the TTL', async () => {
      const s = await auth.login(alice)
      expect(s.user).toBe('alice')
      expect(s.expiresAt).toBe(new Date(time + TTL).toISOString())
      expect(s.token).toMatch(/^gx_[A-Za-z0-9_-]+$/)
      expect(Buffer.from(s.token.slice(3), 'base64url').length * 8).toBeGreaterThanOrEqual(256)
      const again = await auth.login(alice)
      expect(again.token).not.toBe(s.token)
    })

    test('a wrong password is a 401 that names the user and says nothing more', async () => {
      const err = await failure(() => auth.login({ user: 'alice', password: 'wrong password' }))
      expect(err.status).toBe(401)
      expect(err.code).toBe('bad_credentials')
      expect(err.message).toBe("wrong user name or password for 'alice'")
    })

    test('an unknown user gets the very same answer as a wrong password', async () => {
      const err = await failure(() => auth.login({ user: 'mallory', password: 'whatever123' }))
      expect(err.status).toBe(401)
      expect(err.code).toBe('bad_credentials')
      expect(err.message).toBe("wrong user name or password for 'mallory'")
    })
  })

  describe('Auth.authenticate', () => {
    test('a live bearer token finds its user; the scheme is case-insensitive', async () => {
      const { token } = await auth.login(alice)
      expect((await auth.authenticate(`Bearer ${token}`)).id).toBe(aliceId)
      expect((await auth.authenticate(`bearer ${token}`)).id).toBe(aliceId)
    })

    test('no token or a malformed header says to log in', async () => {
      const { token } = await auth.login(alice)
      for (const header of [
        undefined,
        null,
        '',
        'Bearer',
        'Bearer ',
        token,
        `Basic ${token}`,
        `Bearer ${token} x`,
      ]) {
        const err = await failure(() => auth.authenticate(header))
        expect(err.status).toBe(401)
        expect(err.code).toBe('unauthorized')
        expect(err.message).toBe("not logged in: run 'gridx login' first")
      }
    })

    test('an unknown token is refused, saying to log in again', async () => {
      const err = await failure(() => auth.authenticate('Bearer gx_not-a-real-token'))
      expect(err.status).toBe(401)
      expect(err.message).toBe("your login has expired or was revoked: run 'gridx login' again")
    })

    test('a token works until its expiry on the fake clock, then is refused', async () => {
      const { token } = await auth.login(alice)
      time += TTL - 1
      expect((await auth.authenticate(`Bearer ${token}`)).name).toBe('alice')
      time += 1
      const err = await failure(() => auth.authenticate(`Bearer ${token}`))
      expect(err.status).toBe(401)
      expect(err.message).toContain('expired or was revoked')
      // A fresh login works again.
      const fresh = await auth.login(alice)
      expect((await auth.authenticate(`Bearer ${fresh.token}`)).name).toBe('alice')
    })
  })

  describe('Auth.logout', () => {
    test('revokes only the token it is given', async () => {
      const a = await auth.login(alice)
      const b = await auth.login(alice)
      await auth.logout(`Bearer ${a.token}`)
      expect((await failure(() => auth.authenticate(`Bearer ${a.token}`))).status).toBe(401)
      expect((await auth.authenticate(`Bearer ${b.token}`)).name).toBe('alice')
    })

    test('without a token it does nothing', async () => {
      const a = await auth.login(alice)
      await auth.logout(undefined)
      await auth.logout('Basic abc')
      expect((await auth.authenticate(`Bearer ${a.token}`)).name).toBe('alice')
    })
  })

  describe('token storage', () => {
    test('only a SHA-256 hash of the token is stored, never the token', async () => {
      const carol = { user: 'carol', password: 'carols secret password' }
      const user = await auth.register(carol)
      const { token } = await auth.login(carol)
      expect(tokenHash(token)).toMatch(/^[0-9a-f]{64}$/)
      expect(tokenHash(token)).not.toBe(tokenHash(`${token}x`))
      const all = (await rowsOf(store, 'tokens')) as Record<string, unknown>[]
      // PostgreSQL hands its bigint columns back as strings.
      const rows: Record<string, unknown>[] = all
        .filter((r) => r.user_id === user.id)
        .map((r) => ({ ...r, created_at: Number(r.created_at), expires_at: Number(r.expires_at) }))
      expect(rows).toEqual([
        { hash: tokenHash(token), user_id: user.id, created_at: time, expires_at: time + TTL },
      ])
      const dump = JSON.stringify(all)
      expect(dump).not.toContain(token)
      expect(dump).not.toContain(token.slice(3))
      const users = JSON.stringify(await rowsOf(store, 'users'))
      expect(users).toContain(user.id)
      expect(users).not.toContain(carol.password)
      expect(users).not.toContain(alice.password)
    })
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Auth } from '../../src/coordinator/auth'
import { DEFAULT_SETTINGS, type Settings } from '../../src/coordinator/settings'
import type { Store } from '../../src/coordinator/store'
import { GridError } from '../../src/errors'
import type { SignupMode } from '../../src/protocol/api'
import { closeStore, ENGINES, rowsOf } from '../support/stores'

const START = 1_700_000_000_000
const DAY = 86_400_000
const GRANT = DEFAULT_SETTINGS.signupGrantMc

let store: Store
let time: number
let addresses = 0

function auth(signup: SignupMode, more: Partial<Settings> = {}): Auth {
  return new Auth(store, { now: () => time }, { ...DEFAULT_SETTINGS, signup, ...more })
}
/** A different client address each time, so the per-address sign-up budget stays out of the way. */
const someAddress = () => `198.51.${Math.floor(++addresses / 250)}.${addresses % 250}`
const creds = (user: string, invite?: string) => ({
  user,
  password: `${user} password`,
  ...(invite ? { invite } : {}),
})

async function refusal(p: Promise<unknown>): Promise<GridError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(GridError)
    return err as GridError
  }
  throw new Error('expected a refusal')
}

/** The operator registers first (freely) and makes an invite. */
async function operatorInvite(a: Auth, opts: Parameters<Store['invites']['create']>[1] | object = {}) {
  const op = await a.register(creds('operator'), someAddress())
  const invite = await store.invites.create(op.id, {
    grantMc: GRANT,
    uses: 1,
    expiresAt: time + 7 * DAY,
    now: time,
    ...opts,
  })
  return { op, invite }
}

const balance = async (name: string) =>
  (await store.credits.of((await store.accounts.byName(name))!.id, 1)).balance

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await engine.open()
    time = START
  })
  afterEach(async () => {
    await closeStore(store)
  })

  describe('sign-up by invite (the default)', () => {
    test('the first account registers without an invite and is the operator', async () => {
      expect(DEFAULT_SETTINGS.signup).toBe('invite')
      const op = await auth('invite').register(creds('operator'), someAddress())
      expect(op.isAdmin).toBe(true)
      expect(await balance('operator')).toBe(GRANT)
    })

    test('fifty sign-ups without an invite are refused: no account, no credits minted', async () => {
      const a = auth('invite')
      await a.register(creds('operator'), someAddress())
      const errors = await Promise.all(
        Array.from({ length: 50 }, (_, i) => refusal(a.register(creds(`sock${i}`), '203.0.113.5'))),
      )
      for (const e of errors) {
        expect(e.status).toBe(403)
        expect(e.code).toBe('invite_required')
        expect(e.message).toBe(
          "this coordinator admits new accounts by invite: ask its operator for one ('gridx invite') and run gridx register --invite CODE",
        )
      }
      expect(await store.accounts.byName('sock0')).toBeUndefined()
      expect(await store.credits.audit()).toMatchObject({ minted: GRANT, ok: true })
    })

    test("an account made with an invite gets the invite's grant, in the same step that uses it", async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a, { grantMc: 7_500 })
      const bob = await a.register(creds('bob', invite.code), someAddress())
      expect(bob.isAdmin).toBe(false)
      expect(bob.inviteId).toBe(invite.id)
      expect(await balance('bob')).toBe(7_500)
      expect((await store.credits.of(bob.id, 5)).history[0]).toMatchObject({
        kind: 'grant',
        memo: `welcome grant (invite ${invite.id})`,
      })
      expect((await store.invites.list(time))[0]).toMatchObject({
        id: invite.id,
        used: 1,
        uses: 1,
        state: 'used',
        usedBy: ['bob'],
      })
      expect(await store.credits.audit()).toMatchObject({ minted: GRANT + 7_500, ok: true })
    })

    test('an invite makes as many accounts as its uses, then says it is used up', async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a, { uses: 2 })
      await a.register(creds('bob', invite.code), someAddress())
      await a.register(creds('carol', invite.code), someAddress())
      const e = await refusal(a.register(creds('dave', invite.code), someAddress()))
      expect([e.status, e.code]).toEqual([403, 'invite_used'])
      expect(e.message).toBe(
        "this invite has been used up (2 of 2 accounts): ask the coordinator's operator for a new one ('gridx invite')",
      )
      expect(await store.accounts.byName('dave')).toBeUndefined()
    })

    test('an expired invite is refused with when it expired', async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a, { expiresAt: time + DAY })
      time += DAY
      const e = await refusal(a.register(creds('bob', invite.code), someAddress()))
      expect([e.status, e.code]).toEqual([403, 'invite_expired'])
      expect(e.message).toBe(
        `this invite expired at ${new Date(START + DAY).toISOString()}: ask the coordinator's operator for a new one ('gridx invite')`,
      )
      expect((await store.invites.list(time))[0]?.state).toBe('expired')
    })

    test('a revoked invite, and a code that is no invite, are refused', async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a, { uses: 5 })
      await a.register(creds('bob', invite.code), someAddress())
      expect(await store.invites.revoke(invite.id, time)).toMatchObject({ state: 'revoked', usedBy: ['bob'] })
      expect((await refusal(a.register(creds('carol', invite.code), someAddress()))).code).toBe(
        'invite_revoked',
      )
      const forged = await refusal(a.register(creds('carol', `${invite.code}x`), someAddress()))
      expect([forged.status, forged.code]).toEqual([403, 'invite_invalid'])
      expect(forged.message).toContain('copied whole')
      // Bob keeps his account.
      expect(await balance('bob')).toBe(GRANT)
    })

    test('two sign-ups at once on a 1-use invite make exactly one account', async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a)
      const results = await Promise.allSettled([
        a.register(creds('bob', invite.code), someAddress()),
        a.register(creds('carol', invite.code), someAddress()),
      ])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect((lost.reason as GridError).code).toBe('invite_used')
      expect(
        [await store.accounts.byName('bob'), await store.accounts.byName('carol')].filter(Boolean),
      ).toHaveLength(1)
      expect(await store.credits.audit()).toMatchObject({ minted: 2 * GRANT, ok: true })
    })

    test('twenty sign-ups at once on a 3-use invite make exactly three accounts', async () => {
      const a = auth('invite')
      const { invite } = await operatorInvite(a, { uses: 3 })
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => a.register(creds(`user${i}`, invite.code), someAddress())),
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
      expect((await store.invites.list(time))[0]).toMatchObject({ used: 3, uses: 3 })
      expect(await store.credits.audit()).toMatchObject({ minted: 4 * GRANT, ok: true })
    })

    test('two first sign-ups at once: one is the operator, the other needs an invite', async () => {
      const a = auth('invite')
      const results = await Promise.allSettled([
        a.register(creds('alice'), someAddress()),
        a.register(creds('mallory'), someAddress()),
      ])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect((lost.reason as GridError).code).toBe('invite_required')
      expect(await store.accounts.operators()).toHaveLength(1)
    })

    test('only the hash of an invite code is stored', async () => {
      const { invite } = await operatorInvite(auth('invite'))
      expect(invite.code).toMatch(/^gxi_[A-Za-z0-9_-]{32}$/)
      const dump = JSON.stringify(await rowsOf(store, 'invites'))
      expect(dump).toContain(invite.id)
      expect(dump).not.toContain(invite.code)
      expect(dump).not.toContain(invite.code.slice(4))
    })

    test('a wrong code is throttled like a guess: 10 tries from one address, then 429', async () => {
      const a = auth('invite')
      await operatorInvite(a)
      for (let i = 0; i < 10; i++)
        expect((await refusal(a.register(creds(`g${i}`, `gxi_guess${i}`), '203.0.113.5'))).code).toBe(
          'invite_invalid',
        )
      const e = await refusal(a.register(creds('g10', 'gxi_guess10'), '203.0.113.5'))
      expect([e.status, e.code]).toEqual([429, 'too_many_attempts'])
    })
  })

  describe('open and closed sign-up', () => {
    test('open: anyone registers with the default grant, or with an invite and its grant', async () => {
      const a = auth('open')
      const { invite } = await operatorInvite(a, { grantMc: 1_000 })
      await a.register(creds('bob'), someAddress())
      await a.register(creds('carol', invite.code), someAddress())
      expect([await balance('bob'), await balance('carol')]).toEqual([GRANT, 1_000])
    })

    test('open: one address is slowed after 10 sign-ups', async () => {
      const a = auth('open')
      await a.register(creds('operator'), '203.0.113.5')
      for (let i = 0; i < 9; i++) await a.register(creds(`sock${i}`), '203.0.113.5')
      const e = await refusal(a.register(creds('sock9'), '203.0.113.5'))
      expect([e.status, e.code]).toEqual([429, 'too_many_attempts'])
      expect(e.message).toStartWith('too many sign-ups from your address: wait 60 s and try again')
    })

    test('closed: the first account registers, no one after, not even with an invite', async () => {
      const a = auth('closed')
      const op = await a.register(creds('operator'), someAddress())
      const invite = await store.invites.create(op.id, {
        grantMc: GRANT,
        uses: 1,
        expiresAt: time + DAY,
        now: time,
      })
      for (const attempt of [creds('bob'), creds('bob', invite.code)]) {
        const e = await refusal(a.register(attempt, someAddress()))
        expect([e.status, e.code]).toEqual([403, 'signup_closed'])
        expect(e.message).toContain('--signup invite')
      }
      expect((await store.invites.list(time))[0]?.used).toBe(0)
    })
  })
})

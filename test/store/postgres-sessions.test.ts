import { SQL } from 'bun'
import { afterAll, expect, test } from 'bun:test'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { seed } from '../support/store-fixtures'

// Two coordinators on one PostgreSQL keep the users of tokens they read: what one revokes, or
// an operator it names, the other stops answering with as soon as it hears, not at the lifetime.

const stores: Store[] = []
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
})

/** Polls `check` until it holds (the other coordinator hears within milliseconds), up to 5 s. */
async function soon(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true
    await Bun.sleep(50)
  }
  return false
}

test('postgres sessions: a token revoked on one coordinator, and a new operator, reach the other', async () => {
  const url = await freshDatabase()
  const a = await seed(await openPostgres(url))
  const b = await openPostgres(url)
  stores.push(a, b)
  for (const [hash, user] of [
    ['hash-bob', 'u-bob'],
    ['hash-bob-2', 'u-bob'],
    ['hash-alice', 'u-alice'],
  ] as const)
    await a.accounts.addToken(hash, user, 10, 10 ** 12)
  // b keeps what it reads once it listens (it starts to at its first read, without waiting): a
  // row deleted behind the coordinators' backs, with no word on the channel, is still answered.
  const raw = new SQL(url, { max: 1 })
  try {
    let kept = false
    for (let i = 0; i < 100 && !kept; i++) {
      await raw`INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ('hash-raw', 'u-alice', 10, ${10 ** 12}) ON CONFLICT DO NOTHING`
      for (const hash of ['hash-bob', 'hash-bob-2', 'hash-alice', 'hash-raw'])
        expect(await b.accounts.byToken(hash, 20)).toBeDefined()
      await raw`DELETE FROM tokens WHERE hash = 'hash-raw'`
      kept = (await b.accounts.byToken('hash-raw', 20))?.name === 'alice'
      if (!kept) await Bun.sleep(20)
    }
    expect(kept).toBe(true)
  } finally {
    await raw.close()
  }
  expect((await b.accounts.byToken('hash-bob', 20))?.isAdmin).toBe(false)

  // Revoked on a: b stops answering as soon as it hears; the other tokens are still answered.
  await a.accounts.deleteToken('hash-bob')
  expect(await soon(async () => (await b.accounts.byToken('hash-bob', 20)) === undefined)).toBe(true)
  expect((await b.accounts.byToken('hash-bob-2', 20))?.name).toBe('bob')

  // An operator named on a is one on b too, for a token b kept.
  expect((await a.accounts.setOperators(['bob'])).operators).toEqual(['alice', 'bob'])
  expect(await soon(async () => (await b.accounts.byToken('hash-bob-2', 20))?.isAdmin === true)).toBe(true)
  // An expired token is never answered from what was kept.
  expect(await b.accounts.byToken('hash-alice', 10 ** 12 + 1)).toBeUndefined()
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Auth } from '../../src/coordinator/auth'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import type { Store } from '../../src/coordinator/store'
import { closeStore, type Engine, ENGINES, reopenStore } from '../support/stores'

let engine: Engine
let store: Store | undefined
let logs: string[]

afterEach(async () => {
  await closeStore(store)
  store = undefined
})

/** A coordinator (re)start on the same database with this `--admin` list; what it logged. */
async function start(admins: string[]): Promise<Auth> {
  store = store ? await reopenStore(store) : await engine.open()
  logs = []
  return new Auth(
    store,
    { now: () => 1_700_000_000_000 },
    { ...DEFAULT_SETTINGS, signup: 'open', admins },
    (line) => void logs.push(line),
  ).start()
}

const isOperator = async (name: string) => (await store!.accounts.byName(name))!.isAdmin
const register = (a: Auth, user: string) =>
  a.register({ user, password: `${user} password` }, `10.0.0.${user.length}`)

describe.each(ENGINES)('$name', (e) => {
  beforeEach(() => {
    engine = e
  })

  describe('operators are the first account plus the --admin names of this start', () => {
    test('naming an existing account makes it an operator at the next start', async () => {
      const a = await start([])
      expect(logs).toEqual(['operators: none yet; the first account registered will be the operator'])
      await register(a, 'alice')
      await register(a, 'bob')
      expect([await isOperator('alice'), await isOperator('bob')]).toEqual([true, false])
      await start(['bob'])
      expect([await isOperator('alice'), await isOperator('bob')]).toEqual([true, true])
      expect(logs).toEqual(['operators: alice, bob'])
    })

    test('a name dropped from the list loses the right at the next start; the first account keeps it', async () => {
      const a = await start([])
      await register(a, 'alice')
      await register(a, 'bob')
      await start(['bob'])
      expect(await isOperator('bob')).toBe(true)
      await start([])
      expect([await isOperator('alice'), await isOperator('bob')]).toEqual([true, false])
      expect(await store!.accounts.operators()).toEqual(['alice'])
    })

    test('a name with no account grants nothing, and registering it later does not either, until a restart', async () => {
      const a = await start(['alice', 'mallory'])
      expect(logs).toContain('--admin mallory: no such account; create it, then restart')
      await register(a, 'alice')
      // Whoever registers the listed name first is not made an operator by it.
      const m = await register(a, 'mallory')
      expect(m.isAdmin).toBe(false)
      expect(await isOperator('mallory')).toBe(false)
      await start(['mallory'])
      expect(await isOperator('mallory')).toBe(true)
      expect(logs).toEqual(['operators: alice, mallory'])
    })

    test('the audit view lists exactly the operators', async () => {
      const a = await start([])
      for (const u of ['alice', 'bob', 'carol']) await register(a, u)
      await start(['carol', 'carol', 'nobody'])
      expect(await store!.accounts.operators()).toEqual(['alice', 'carol'])
      expect(logs).toEqual([
        '--admin nobody: no such account; create it, then restart',
        'operators: alice, carol',
      ])
    })
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Auth } from '../../src/coordinator/auth'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { Store } from '../../src/coordinator/store'

let dir: string
let store: Store | undefined
let logs: string[]

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gridx-operators-'))
})
afterEach(() => {
  store?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A coordinator (re)start on the same database with this `--admin` list; what it logged. */
function start(admins: string[]): Auth {
  store?.close()
  store = new Store(join(dir, 'gridx.db'))
  logs = []
  return new Auth(
    store,
    { now: () => 1_700_000_000_000 },
    { ...DEFAULT_SETTINGS, signup: 'open', admins },
    (line) => void logs.push(line),
  )
}

const isOperator = (name: string) => store!.userByName(name)!.isAdmin
const register = (a: Auth, user: string) =>
  a.register({ user, password: `${user} password` }, `10.0.0.${user.length}`)

describe('operators are the first account plus the --admin names of this start', () => {
  test('naming an existing account makes it an operator at the next start', async () => {
    const a = start([])
    expect(logs).toEqual(['operators: none yet; the first account registered will be the operator'])
    await register(a, 'alice')
    await register(a, 'bob')
    expect([isOperator('alice'), isOperator('bob')]).toEqual([true, false])
    start(['bob'])
    expect([isOperator('alice'), isOperator('bob')]).toEqual([true, true])
    expect(logs).toEqual(['operators: alice, bob'])
  })

  test('a name dropped from the list loses the right at the next start; the first account keeps it', async () => {
    const a = start([])
    await register(a, 'alice')
    await register(a, 'bob')
    start(['bob'])
    expect(isOperator('bob')).toBe(true)
    start([])
    expect([isOperator('alice'), isOperator('bob')]).toEqual([true, false])
    expect(store!.operators()).toEqual(['alice'])
  })

  test('a name with no account grants nothing, and registering it later does not either, until a restart', async () => {
    const a = start(['alice', 'mallory'])
    expect(logs).toContain('--admin mallory: no such account; create it, then restart')
    await register(a, 'alice')
    // Whoever registers the listed name first is not made an operator by it.
    const m = await register(a, 'mallory')
    expect(m.isAdmin).toBe(false)
    expect(isOperator('mallory')).toBe(false)
    start(['mallory'])
    expect(isOperator('mallory')).toBe(true)
    expect(logs).toEqual(['operators: alice, mallory'])
  })

  test('the audit view lists exactly the operators', async () => {
    const a = start([])
    for (const u of ['alice', 'bob', 'carol']) await register(a, u)
    start(['carol', 'carol', 'nobody'])
    expect(store!.operators()).toEqual(['alice', 'carol'])
    expect(logs).toEqual([
      '--admin nobody: no such account; create it, then restart',
      'operators: alice, carol',
    ])
  })
})

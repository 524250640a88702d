// Contexts through the binary against two real coordinators: a second account is added beside
// the first, `context use` and `--context` switch between grids and accounts, and the current
// context beats a coordinator in config.json.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Grid, gridx, startGrid, tempDir } from './harness'

let one: Grid
let two: Grid
let home: string
/** No GRIDX_COORDINATOR: the contexts alone say where commands go. */
let env: Record<string, string>

const whoami = async (...args: string[]) => {
  const r = await gridx(['whoami', '--json', ...args], env)
  if (r.code !== 0) throw new Error(`whoami failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as { user: string; coordinator: string; context: string; operator: boolean }
}
const register = async (grid: Grid, user: string) =>
  gridx(['register', '--coordinator', grid.coordinator, '--user', user, '--password', 'password-123'], env)

beforeAll(async () => {
  ;[one, two] = await Promise.all([startGrid(['--signup', 'open']), startGrid(['--signup', 'open'])])
  home = tempDir('contexts')
  env = { GRIDX_HOME: home }
}, 60_000)

afterAll(async () => {
  await Promise.all([one.close(), two.close()])
  rmSync(home, { recursive: true, force: true })
})

describe('contexts', () => {
  test('a second register on the same coordinator keeps the first account, and says which is current', async () => {
    expect((await register(one, 'alice')).code).toBe(0)
    const bob = await register(one, 'bob')
    expect(bob.code).toBe(0)
    const a = `alice@${one.coordinator}`
    const b = `bob@${one.coordinator}`
    expect(bob.stderr).toContain(
      `current context: '${b}' (new); context '${a}' is kept ('gridx context use ${a}' switches back)`,
    )
    expect(await whoami()).toMatchObject({ user: 'bob', context: b, operator: false })
    // alice's login is still there: usable without logging in again.
    expect(await whoami('--context', a)).toMatchObject({ user: 'alice', context: a, operator: true })
    const ls = await gridx(['context', 'ls', '--json'], env)
    expect(JSON.parse(ls.stdout)).toEqual([
      { name: a, coordinator: one.coordinator, user: 'alice', current: false, loggedIn: true },
      { name: b, coordinator: one.coordinator, user: 'bob', current: true, loggedIn: true },
    ])
    expect(statSync(join(home, 'credentials.json')).mode & 0o777).toBe(0o600)
  }, 60_000)

  test('switching between two coordinators with context use, --context and GRIDX_CONTEXT', async () => {
    expect((await register(two, 'carol')).code).toBe(0)
    const c = `carol@${two.coordinator}`
    const a = `alice@${one.coordinator}`
    expect(await whoami()).toMatchObject({ user: 'carol', coordinator: `http://${two.coordinator}` })
    const used = await gridx(['context', 'use', a], env)
    expect(used.code).toBe(0)
    expect(await whoami()).toMatchObject({
      user: 'alice',
      coordinator: `http://${one.coordinator}`,
      context: a,
    })
    // One command elsewhere, the current context unchanged.
    expect(await whoami('--context', c)).toMatchObject({
      user: 'carol',
      coordinator: `http://${two.coordinator}`,
    })
    const viaEnv = await gridx(['whoami', '--json'], { ...env, GRIDX_CONTEXT: c })
    expect(JSON.parse(viaEnv.stdout)).toMatchObject({ user: 'carol', context: c })
    expect(await whoami()).toMatchObject({ user: 'alice' })
    // The table marks the current one.
    const table = (await gridx(['context', 'ls'], env)).stdout
    expect(table).toMatch(new RegExp(`^\\* ${a.replace(/\./g, '\\.')} `, 'm'))
    const unknown = await gridx(['whoami', '--context', 'nowhere', '--json'], env)
    expect(unknown.code).not.toBe(0)
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'no_context' } })
  }, 60_000)

  test('the current context beats a coordinator in config.json; a flag beats both', async () => {
    // config.json names coordinator two; the current context (alice on one) wins.
    writeFileSync(join(home, 'config.json'), JSON.stringify({ coordinator: two.coordinator }))
    try {
      expect(await whoami()).toMatchObject({ user: 'alice', coordinator: `http://${one.coordinator}` })
      expect(await whoami('--coordinator', two.coordinator)).toMatchObject({ user: 'carol' })
    } finally {
      rmSync(join(home, 'config.json'))
    }
  }, 60_000)

  test('context add, login into it, rm', async () => {
    const add = await gridx(['context', 'add', 'lab', '--coordinator', two.coordinator], env)
    expect(add.code).toBe(0)
    const dave = await gridx(
      ['register', '--context', 'lab', '--user', 'dave', '--password', 'password-123'],
      env,
    )
    expect(dave.code).toBe(0)
    expect(dave.stderr).toContain("current context: 'lab'")
    expect(await whoami()).toMatchObject({ user: 'dave', context: 'lab' })
    expect((await gridx(['context', 'rm', 'lab'], env)).code).toBe(0)
    const file = readFileSync(join(home, 'credentials.json'), 'utf8')
    expect(file).not.toContain('"dave"')
    expect(file).toContain('"carol"')
    const again = await gridx(['context', 'use', 'lab', '--json'], env)
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'no_context' } })
  }, 60_000)
})

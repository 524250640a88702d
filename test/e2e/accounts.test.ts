import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type Grid, gridx, startGrid, tempDir } from './harness'

// Accounts through the compiled binary, as an operator and newcomers would do it: the default
// sign-up is by invite; operators are decided at each start; password guessing gets 429s.
let grid: Grid
let op: Record<string, string>
let alice: Record<string, string>
const PASSWORD = 'password-123'

/** A fresh home that talks to the grid, as someone new. */
const newcomer = (name: string) => ({
  ...grid.env(tempDir(`acct-${name}`)),
  GRIDX_USER: name,
  GRIDX_PASSWORD: PASSWORD,
})
const whoami = async (env: Record<string, string>) =>
  JSON.parse((await gridx(['whoami', '--json'], env)).stdout) as {
    user: string
    operator: boolean
    coordinator: string
    context: string | null
  }
const balance = async (env: Record<string, string>) =>
  (JSON.parse((await gridx(['credits', '--json'], env)).stdout) as { balanceMc: number }).balanceMc

beforeAll(async () => {
  grid = await startGrid()
  op = newcomer('op')
})
afterAll(async () => {
  await grid.close()
})

describe('sign-up by invite (the default)', () => {
  test('gridx serve says what sign-up means; the first account registers freely and is the operator', async () => {
    await grid.serve.waitFor(
      /sign-up: by invite: after the first account \(the operator\), new accounts need a code from 'gridx invite'/,
    )
    await grid.serve.waitFor(/operators: none yet; the first account registered will be the operator/)
    const r = await gridx(['register'], op)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(
      `registered 'op' on http://${grid.coordinator} and logged in; you start with 100 credits`,
    )
    expect(r.stderr).toContain("you are its operator: 'gridx invite' admits others")
    expect(await whoami(op)).toEqual({
      user: 'op',
      operator: true,
      coordinator: `http://${grid.coordinator}`,
      context: `op@${grid.coordinator}`,
    })
    const text = await gridx(['whoami'], op)
    expect(text.stdout).toBe(
      `user:        op\ncoordinator: http://${grid.coordinator}\ncontext:     op@${grid.coordinator}\noperator:    yes\n`,
    )
  })

  test('without an invite, register is refused with what to do', async () => {
    const r = await gridx(['register'], newcomer('mallory'))
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      "gridx: this coordinator admits new accounts by invite: ask its operator for one ('gridx invite') and run gridx register --invite CODE\n",
    )
  })

  test("gridx invite prints the register line; run as printed, it makes an account with the invite's credits, once", async () => {
    const made = await gridx(['invite', '--grant', '7.5'], op)
    expect(made.code).toBe(0)
    expect(made.stderr).toMatch(/^invite [a-z2-9]{12}: 7\.5 credits each for up to 1 account, until \d{4}-/)
    expect(made.stderr).toContain("that address is this machine's loopback")
    const [joinLine, line = ''] = made.stdout.trim().split('\n')
    expect(joinLine).toMatch(/^gridx register --join gx1_[\w-]+ --user NAME$/)
    expect(line).toMatch(
      new RegExp(
        `^gridx register --coordinator http://${grid.coordinator} --invite gxi_[\\w-]{32} --user NAME$`,
      ),
    )
    // The newcomer runs the line as given, with their name (and a password).
    const argv = line
      .split(' ')
      .slice(1)
      .map((w) => (w === 'NAME' ? 'alice' : w))
    alice = newcomer('alice')
    const home = { GRIDX_HOME: alice['GRIDX_HOME']!, GRIDX_PASSWORD: PASSWORD }
    const r = await gridx(argv, home)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain("registered 'alice'")
    expect(r.stderr).toContain('you start with 7.5 credits')
    expect(await balance(alice)).toBe(7_500)
    expect(await whoami(alice)).toMatchObject({ user: 'alice', operator: false })
    const again = await gridx(
      argv.map((w) => (w === 'alice' ? 'carol' : w)),
      { ...newcomer('carol'), GRIDX_USER: '' },
    )
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('this invite has been used up (1 of 1 accounts)')
  })

  test('GRIDX_INVITE works too; --list shows what each invite made; --revoke stops one', async () => {
    const made = JSON.parse(
      (await gridx(['invite', '--uses', '3', '--expires', '2d', '--json'], op)).stdout,
    ) as {
      id: string
      code: string
      uses: number
      grantMc: number
      createdAt: string
      expiresAt: string
    }
    expect(made).toMatchObject({ uses: 3, grantMc: 100_000 })
    expect(Date.parse(made.expiresAt) - Date.parse(made.createdAt)).toBe(2 * 86_400_000)
    const bob = newcomer('bob')
    expect((await gridx(['register'], { ...bob, GRIDX_INVITE: made.code })).code).toBe(0)
    expect(await balance(bob)).toBe(100_000)
    const list = await gridx(['invite', '--list'], op)
    expect(list.code).toBe(0)
    const rows = list.stdout.trim().split('\n')
    expect(rows[0]).toMatch(/^ID +STATE +USED +CREDITS +EXPIRES +BY +ACCOUNTS$/)
    expect(rows.find((r) => r.startsWith(made.id))).toMatch(
      new RegExp(`^${made.id} +active +1/3 +100 +\\S+ \\S+ +op +bob$`),
    )
    expect(rows.some((r) => / used +1\/1 +7\.5 .* op +alice$/.test(r))).toBe(true)
    const revoked = await gridx(['invite', '--revoke', made.id], op)
    expect(revoked.code).toBe(0)
    expect(revoked.stderr).toContain(`revoked invite ${made.id}: it admits no one more (it admitted 1 of 3)`)
    const late = await gridx(['register', '--invite', made.code], newcomer('dave'))
    expect(late.code).toBe(1)
    expect(late.stderr).toContain('this invite was revoked')
  })

  test('only operators invite; the audit lists the operators', async () => {
    const denied = await gridx(['invite'], alice)
    expect(denied.code).toBe(1)
    expect(denied.stderr).toContain("'alice' is not an operator")
    const audit = await gridx(['credits', '--audit'], op)
    expect(audit.stdout).toContain('operators  op\n')
    // op 100 + alice 7.5 + bob 100: nothing else was minted.
    expect(JSON.parse((await gridx(['credits', '--audit', '--json'], op)).stdout)).toMatchObject({
      ok: true,
      minted: 207_500,
      operators: ['op'],
    })
  })
})

describe('operators are decided at every start', () => {
  test('--admin on an existing account takes effect on restart; a missing name grants nothing; a dropped one loses it', async () => {
    await grid.restart('SIGTERM', undefined, ['--admin', 'alice', '--admin', 'ghost'])
    await grid.serve.waitFor(/--admin ghost: no such account; create it, then restart/)
    await grid.serve.waitFor(/operators: op, alice/)
    expect((await whoami(alice)).operator).toBe(true)
    // Whoever registers the missing name now gets no operator rights from it.
    const code = (JSON.parse((await gridx(['invite', '--json'], alice)).stdout) as { code: string }).code
    const ghost = newcomer('ghost')
    expect((await gridx(['register', '--invite', code], ghost)).code).toBe(0)
    expect((await whoami(ghost)).operator).toBe(false)
    expect(JSON.parse((await gridx(['credits', '--audit', '--json'], alice)).stdout)).toMatchObject({
      operators: ['op', 'alice'],
    })
    await grid.restart('SIGTERM', undefined, [])
    expect((await whoami(alice)).operator).toBe(false)
    expect((await gridx(['invite'], alice)).code).toBe(1)
    expect((await whoami(op)).operator).toBe(true)
  })

  test('--signup open says what it means at start, and lets anyone in', async () => {
    await grid.restart('SIGTERM', undefined, ['--signup', 'open', '--grant', '5'])
    // The banner goes on after the listening line the restart waits for.
    await grid.serve.waitFor(/anyone who can reach this port can create accounts with 5 credits each/)
    const eve = newcomer('eve')
    expect((await gridx(['register'], eve)).code).toBe(0)
    expect(await balance(eve)).toBe(5_000)
    await grid.restart('SIGTERM', undefined, ['--signup', 'closed'])
    const r = await gridx(['register'], newcomer('frank'))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('this coordinator accepts no new accounts (it runs with --signup closed)')
  })
})

describe('password guessing', () => {
  test('the CLI shows the 429 plainly: how long to wait', async () => {
    const guesser = { ...newcomer('op'), GRIDX_PASSWORD: 'not the password' }
    const codes: string[] = []
    for (let i = 0; i < 6; i++) codes.push((await gridx(['login'], guesser)).stderr.trim())
    expect(codes.slice(0, 5)).toEqual(Array<string>(5).fill("gridx: wrong user name or password for 'op'"))
    expect(codes[5]).toMatch(
      /^gridx: too many failed logins from your address: wait \d+ s and try again \(after .+Z\)$/,
    )
  })
})

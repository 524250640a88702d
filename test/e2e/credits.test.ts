import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { BB_IMAGE, type Grid, gridx, startGrid } from './harness'

interface Credits {
  balanceMc: number
  escrowMc: number
  history: { kind: string; job: string | null; counterparty: string; amountMc: number; account: string }[]
}

let grid: Grid
let op: Record<string, string> // first account: the operator
let alice: Record<string, string>
let bob: Record<string, string>

const credits = async (env: Record<string, string>) =>
  JSON.parse((await gridx(['credits', '--json'], env)).stdout) as Credits

beforeAll(async () => {
  grid = await startGrid()
  op = await grid.user('operator')
  alice = await grid.user('alice')
  bob = await grid.user('bob')
  await grid.worker(bob, 'bobs-worker')
})
afterAll(async () => {
  await grid.close()
})

describe('credits', () => {
  test('a new account starts with 100 credits', async () => {
    const c = await credits(alice)
    expect(c.balanceMc).toBe(100_000)
    expect(c.escrowMc).toBe(0)
    expect(c.history[0]).toMatchObject({ kind: 'grant', counterparty: 'grant', amountMc: 100_000 })
    const text = await gridx(['credits'], alice)
    expect(text.stdout).toContain('alice: 100 credits available, 0 held in escrow')
  })

  test("alice's job on bob's worker moves exactly the billed amount from alice to bob", async () => {
    const a0 = await credits(alice)
    const b0 = await credits(bob)
    const r = await gridx(
      ['submit', '--image', BB_IMAGE, '--timeout', '1m', '--', 'sh', '-c', 'sleep 1.2; echo paid'],
      alice,
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('paid\n')
    expect(r.stderr).toContain('it may cost up to 1 credits')
    const billed = /cost ([\d.]+) credits/.exec(r.stderr)
    expect(billed).not.toBeNull()
    const jobs = JSON.parse((await gridx(['jobs', '--all', '--json', '--limit', '1'], alice)).stdout) as {
      id: string
      costMc: number
    }[]
    const cost = jobs[0]!.costMc
    expect(cost).toBeGreaterThan(0)
    expect(Number(billed![1]) * 1000).toBe(cost)
    // 1 CPU for 2 started seconds (sleep 1.2) at 1 credit per CPU-minute
    expect(cost).toBeGreaterThanOrEqual(34)
    const a1 = await credits(alice)
    const b1 = await credits(bob)
    expect(a0.balanceMc - a1.balanceMc).toBe(cost)
    expect(b1.balanceMc - b0.balanceMc).toBe(cost)
    expect(a1.escrowMc).toBe(0)
    expect(b1.history[0]).toMatchObject({
      kind: 'pay',
      job: jobs[0]!.id,
      counterparty: 'alice',
      amountMc: cost,
      account: 'balance',
    })
    expect(a1.history.find((h) => h.kind === 'pay')).toMatchObject({
      counterparty: 'bob',
      amountMc: -cost,
      account: 'escrow',
    })
  })

  test('your own job on your own worker nets to zero', async () => {
    const b0 = await credits(bob)
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--timeout', '1m', '--', 'echo', 'mine'], bob)
    expect(r.code).toBe(0)
    const b1 = await credits(bob)
    expect(b1.balanceMc).toBe(b0.balanceMc)
  })

  test('a job the user cannot afford is refused with 402 and nothing is queued', async () => {
    const before = JSON.parse((await gridx(['jobs', '--all', '--json'], alice)).stdout) as unknown[]
    const r = await gridx(['submit', '--image', BB_IMAGE, '--timeout', '24h', '--', 'true'], alice)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /insufficient credits: this job may cost up to 1440 credits and you have [\d.]+ \([\d.]+ missing\)/,
    )
    const after = JSON.parse((await gridx(['jobs', '--all', '--json'], alice)).stdout) as unknown[]
    expect(after.length).toBe(before.length)
  })

  test('50 concurrent submissions: exactly the affordable ones are accepted', async () => {
    const carol = await grid.user('carol')
    const token = (
      JSON.parse(await Bun.file(`${carol['GRIDX_HOME']}/credentials.json`).text()) as {
        logins: Record<string, Record<string, { token: string }>>
      }
    ).logins[`http://127.0.0.1:${grid.httpPort}`]!['carol']!.token
    // 3 credits each (1 CPU x 3 minutes): 100 credits afford 33 of them. Nothing runs: the image does not exist.
    const body = JSON.stringify({
      image: 'gridx-local/never-runs:1',
      command: ['true'],
      timeoutMs: 180_000,
      cpus: 1,
      memoryBytes: 64 << 20,
    })
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`http://127.0.0.1:${grid.httpPort}/api/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        }).then((r) => r.status),
      ),
    )
    expect(statuses.filter((s) => s === 201)).toHaveLength(33)
    expect(statuses.filter((s) => s === 402)).toHaveLength(17)
    const c = await credits(carol)
    expect(c.balanceMc + c.escrowMc).toBe(100_000)
    expect(c.balanceMc).toBeGreaterThanOrEqual(0)
  })

  test('operators grant credits and audit the ledger; others may not', async () => {
    const denied = await gridx(['credits', 'grant', 'alice', '5'], alice)
    expect(denied.code).toBe(1)
    expect(denied.stderr).toContain("'alice' is not an operator")
    const a0 = await credits(alice)
    const g = await gridx(['credits', 'grant', 'alice', '2.5'], op)
    expect(g.code).toBe(0)
    expect((await credits(alice)).balanceMc - a0.balanceMc).toBe(2500)
    const audit = await gridx(['credits', '--audit', '--json'], op)
    expect(audit.code).toBe(0)
    const a = JSON.parse(audit.stdout) as { ok: boolean; minted: number; balances: number; escrow: number }
    expect(a.ok).toBe(true)
    expect(a.balances + a.escrow).toBe(a.minted)
    expect(a.minted).toBe(4 * 100_000 + 2500) // operator, alice, bob, carol + the grant
    const human = await gridx(['credits', '--audit'], op)
    expect(human.stdout).toContain('ledger OK')
    expect((await gridx(['credits', '--audit'], alice)).code).toBe(1)
  })

  test('history pages through every movement', async () => {
    const first = JSON.parse(
      (await gridx(['credits', 'history', '--json', '--limit', '2'], alice)).stdout,
    ) as { history: unknown[]; next: number | null }
    expect(first.history).toHaveLength(2)
    expect(first.next).not.toBeNull()
    const all = JSON.parse(
      (await gridx(['credits', 'history', '--json', '--all', '--limit', '2'], alice)).stdout,
    ) as { history: { amountMc: number; account: string }[] }
    const fullPage = JSON.parse(
      (await gridx(['credits', 'history', '--json', '--limit', '500'], alice)).stdout,
    ) as { history: unknown[] }
    expect(all.history).toEqual(fullPage.history as never)
    // the lines add up to what alice has, balance and escrow together
    const sum = all.history.reduce((n, h) => n + h.amountMc, 0)
    const now = await credits(alice)
    expect(sum).toBe(now.balanceMc + now.escrowMc)
  })
})

import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { LaterTransfers } from '../../src/coordinator/store/sqlite/later'
import type { Movement, Shift } from '../../src/coordinator/store/ledger-rules'
import { migrate } from '../../src/db/sqlite/migrate'

// A batch's settlements (pays, and releases that are shifts with no row) made in one INSERT and
// one UPDATE: on the real schema, each balance moves by its net change, and a transfer whose id
// exists already moves nothing.

function ledger() {
  const sqlite = new Database(':memory:', { strict: true })
  migrate(sqlite)
  for (const [id, kind, balance] of [
    ['escrow:a', 'escrow', 1000],
    ['user:a', 'user', 0],
    ['user:o', 'user', 0],
  ] as const)
    sqlite.run('INSERT INTO accounts (id, kind, balance) VALUES (?, ?, ?)', [id, kind, balance])
  const balance = (id: string) =>
    sqlite.query<{ balance: number }, [string]>('SELECT balance FROM accounts WHERE id = ?').get(id)!.balance
  const count = () => sqlite.query<{ n: number }, []>('SELECT count(*) AS n FROM transfers').get()!.n
  return { sqlite, balance, count }
}

const pay = (id: string, to: string, amount: number): Movement => ({
  id,
  kind: 'pay',
  from: 'escrow:a',
  to,
  amount,
  jobId: 'j1',
  memo: null,
  at: 5,
})
const release = (amount: number): Shift => ({ from: 'escrow:a', to: 'user:a', amount })

test('each balance moves by its net change; a pay already made, or anything of no amount, moves nothing', () => {
  const { sqlite, balance, count } = ledger()
  const later = new LaterTransfers(sqlite)
  later.add([pay('pay:j1:1', 'user:o', 300), pay('pay:j2:1', 'user:o', 0)])
  later.shift([release(200), release(0)])
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o')]).toEqual([500, 200, 300])
  // The release is a shift: no row.
  expect(count()).toBe(1)
  // The same pay again (a settlement made twice) next to a new one: only the new one moves.
  later.add([pay('pay:j1:1', 'user:o', 300), pay('pay:j3:1', 'user:o', 50)])
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o')]).toEqual([450, 200, 350])
  expect(count()).toBe(2)
  // A job paid to its own owner: the pay is written, and their two accounts net out.
  later.add([pay('pay:j4:1', 'user:a', 50)])
  later.shift([release(100)])
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o'), count()]).toEqual([300, 350, 350, 3])
})

test('an overdraft is refused whole by the balance CHECK; discard leaves nothing for the next make', () => {
  const { sqlite, balance, count } = ledger()
  const later = new LaterTransfers(sqlite)
  later.add([pay('pay:j1:1', 'user:o', 700)])
  later.shift([release(400)])
  sqlite.run('BEGIN')
  expect(() => later.make()).toThrow(/CHECK constraint failed/)
  sqlite.run('ROLLBACK')
  later.add([pay('pay:j9:1', 'user:o', 1)])
  later.shift([release(1)])
  later.discard()
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o'), count()]).toEqual([1000, 0, 0, 0])
})

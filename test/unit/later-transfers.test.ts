import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { LaterTransfers } from '../../src/coordinator/store/sqlite/later'
import type { Movement } from '../../src/coordinator/store/ledger-rules'
import { migrate } from '../../src/db/sqlite/migrate'

// A batch's settlement transfers made in one INSERT and one UPDATE: on the real schema, each
// balance moves by its net change, and a transfer whose id exists already moves nothing.

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

const move = (id: string, to: string, amount: number): Movement => ({
  id,
  kind: id.startsWith('pay') ? 'pay' : 'refund',
  from: 'escrow:a',
  to,
  amount,
  jobId: 'j1',
  memo: null,
  at: 5,
})

test('each balance moves by its net change; a transfer already made, or of no amount, moves nothing', () => {
  const { sqlite, balance, count } = ledger()
  const later = new LaterTransfers(sqlite)
  later.add([
    move('pay:j1:1', 'user:o', 300),
    move('refund:j1:1', 'user:a', 200),
    move('pay:j2:1', 'user:o', 0),
  ])
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o')]).toEqual([500, 200, 300])
  expect(count()).toBe(2)
  // The same ids again (a settlement made twice) next to a new one: only the new one moves.
  later.add([
    move('pay:j1:1', 'user:o', 300),
    move('refund:j1:1', 'user:a', 200),
    move('pay:j3:1', 'user:o', 50),
  ])
  later.make()
  expect([balance('escrow:a'), balance('user:a'), balance('user:o')]).toEqual([450, 200, 350])
  expect(count()).toBe(3)
})

test('an overdraft is refused whole by the balance CHECK; discard leaves nothing for the next make', () => {
  const { sqlite, balance, count } = ledger()
  const later = new LaterTransfers(sqlite)
  later.add([move('pay:j1:1', 'user:o', 700), move('refund:j1:1', 'user:a', 400)])
  sqlite.run('BEGIN')
  expect(() => later.make()).toThrow(/CHECK constraint failed/)
  sqlite.run('ROLLBACK')
  later.add([move('pay:j9:1', 'user:o', 1)])
  later.discard()
  later.make()
  expect([balance('escrow:a'), balance('user:o'), count()]).toEqual([1000, 0, 0])
})

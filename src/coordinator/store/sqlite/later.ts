import type { Database, Statement } from 'bun:sqlite'
import type { JobRow } from '../../../db/sqlite/schema'
import {
  escrowAccount,
  hold,
  insufficientCredits,
  type Movement,
  type Shift,
  userAccount,
} from '../ledger-rules'
import type { Hot } from './prepared'

// Ledger writes left for the end of a group of changes of one kind (WriteBatch `afterKind`):
// under load each statement cost the coordinator tens of microseconds (SQLite's code and pages
// out of the CPU's caches), and each of a job's ledger movements was two statements.

/**
 * Transfers and shifts made together once a group of changes has run (a batch's settlements, or
 * its submissions' holds): one INSERT of every transfer row, then one UPDATE of each balance by
 * its net change, instead of two statements per transfer. The ids stay unique, so a transfer
 * already made is not made again; a shift has no row and always moves.
 */
export class LaterTransfers {
  private pending: Movement[] = []
  private shifts: Shift[] = []
  private readonly insert: Statement<{ id: string }, [string]>
  private readonly move: Statement<unknown, [string]>

  constructor(sqlite: Database) {
    this.insert = sqlite.prepare(
      `INSERT INTO transfers (id, kind, from_account, to_account, amount, job_id, memo, created_at)
       SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
       FROM json_each(?1) WHERE true
       ON CONFLICT (id) DO NOTHING RETURNING id`,
    )
    this.move = sqlite.prepare(
      `UPDATE accounts SET balance = balance + d.delta
       FROM (SELECT value ->> 0 AS id, value ->> 1 AS delta FROM json_each(?1)) AS d
       WHERE accounts.id = d.id`,
    )
  }

  /** Leaves `movements` for `make` (those of no amount make no transfer, as in `transfer`). */
  add(movements: readonly Movement[]): void {
    for (const m of movements) if (m.amount > 0) this.pending.push(m)
  }

  /** Leaves `shifts` for `make` (those of no amount move nothing). */
  shift(shifts: readonly Shift[]): void {
    for (const s of shifts) if (s.amount > 0) this.shifts.push(s)
  }

  /** Makes every transfer and shift left, inside the open transaction (the balance CHECK still holds). */
  make(): void {
    const ms = this.pending
    const shifts = this.shifts
    this.pending = []
    this.shifts = []
    const net = new Map<string, number>()
    const moveBy = (s: Shift) => {
      // An account paying itself keeps its balance.
      if (s.from === s.to) return
      net.set(s.from, (net.get(s.from) ?? 0) - s.amount)
      net.set(s.to, (net.get(s.to) ?? 0) + s.amount)
    }
    if (ms.length > 0) {
      const rows = ms.map((m) => [m.id, m.kind, m.from, m.to, m.amount, m.jobId, m.memo, m.at])
      const made = new Set(this.insert.all(JSON.stringify(rows)).map((r) => r.id))
      for (const m of ms) if (made.has(m.id)) moveBy(m)
    }
    for (const s of shifts) moveBy(s)
    if (net.size > 0) this.move.run(JSON.stringify([...net]))
  }

  /** Drops what was left: the batch failed, and nothing of it was written. */
  discard(): void {
    this.pending = []
    this.shifts = []
  }
}

/**
 * The escrows of a batch's submissions: each is decided at once (a 402 names the balance as the
 * submissions before it in the batch left it), and made with the others by `LaterTransfers`.
 * A user's balance is read once per batch; the balance's CHECK still refuses an overdraft.
 */
export class LaterEscrows {
  private readonly balances = new Map<string, number>()
  private readonly transfers: LaterTransfers

  constructor(
    sqlite: Database,
    private readonly hot: Hot,
  ) {
    this.transfers = new LaterTransfers(sqlite)
  }

  /** Refuses with 402 when the job's owner cannot afford it now; writes nothing either way. */
  check(job: Pick<JobRow, 'ownerId' | 'maxCost'>): void {
    if (job.maxCost <= 0) return
    const balance = this.balanceOf(job.ownerId)
    if (balance < job.maxCost) throw insufficientCredits(job.maxCost, balance)
  }

  /** Holds a checked job's maximum cost, to be moved with the batch's other holds. */
  take(job: Pick<JobRow, 'ownerId' | 'maxCost'>): void {
    if (job.maxCost <= 0) return
    this.balances.set(job.ownerId, this.balanceOf(job.ownerId) - job.maxCost)
    this.transfers.shift([hold(job)])
  }

  /** Makes the escrows taken, inside the open transaction. */
  make(): void {
    this.balances.clear()
    this.transfers.make()
  }

  /** Drops what was taken: the batch failed, and nothing of it was written. */
  discard(): void {
    this.balances.clear()
    this.transfers.discard()
  }

  private balanceOf(userId: string): number {
    let balance = this.balances.get(userId)
    if (balance === undefined) {
      const user = userAccount(userId)
      const rows = this.hot.balances.all({ user, escrow: escrowAccount(userId) })
      balance = rows.find((r) => r.id === user)?.balance ?? 0
      this.balances.set(userId, balance)
    }
    return balance
  }
}

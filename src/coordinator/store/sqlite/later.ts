import type { Database, Statement } from 'bun:sqlite'
import type { JobRow } from '../../../db/sqlite/schema'
import {
  escrowAccount,
  escrowMovement,
  insufficientCredits,
  type Movement,
  userAccount,
} from '../ledger-rules'
import type { Hot } from './prepared'

// Ledger writes left for the end of a group of changes of one kind (WriteBatch `afterKind`):
// under load each statement cost the coordinator tens of microseconds (SQLite's code and pages
// out of the CPU's caches), and every job made three transfers of two statements each.

/**
 * Transfers made together once a group of changes has run (a batch's settlements, or its
 * submissions' escrows): one INSERT of every row, then one UPDATE of each balance by its net
 * change, instead of two statements per transfer. The ids stay unique, so a transfer already
 * made is not made again.
 */
export class LaterTransfers {
  private pending: Movement[] = []
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

  /** Makes every transfer left, inside the open transaction (the balance CHECK still holds). */
  make(): void {
    const ms = this.pending
    this.pending = []
    if (ms.length === 0) return
    const rows = ms.map((m) => [m.id, m.kind, m.from, m.to, m.amount, m.jobId, m.memo, m.at])
    const made = new Set(this.insert.all(JSON.stringify(rows)).map((r) => r.id))
    const net = new Map<string, number>()
    for (const m of ms) {
      // An account paying itself keeps its balance (no movement here ever does).
      if (!made.has(m.id) || m.from === m.to) continue
      net.set(m.from, (net.get(m.from) ?? 0) - m.amount)
      net.set(m.to, (net.get(m.to) ?? 0) + m.amount)
    }
    if (net.size > 0) this.move.run(JSON.stringify([...net]))
  }

  /** Drops what was left: the batch failed, and nothing of it was written. */
  discard(): void {
    this.pending = []
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

  /** Holds a checked job's maximum cost, to be moved with the batch's other escrows. */
  take(job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost'>, at: number): void {
    if (job.maxCost <= 0) return
    this.balances.set(job.ownerId, this.balanceOf(job.ownerId) - job.maxCost)
    this.transfers.add([escrowMovement(job, at)])
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

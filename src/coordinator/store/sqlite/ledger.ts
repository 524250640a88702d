import { desc, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { alias } from 'drizzle-orm/sqlite-core'
import * as schema from '../../../db/sqlite/schema'
import { type JobRow, TRANSFER_PARTY, TRANSFER_PAYEE } from '../../../db/sqlite/schema'
import {
  auditOf,
  escrowAccount,
  historyLines,
  historyPage,
  type Movement,
  type Shift,
  settlement,
  transferRow,
  userAccount,
} from '../ledger-rules'
import type { Audit, HistoryLine } from '../types'
import type { LaterTransfers } from './later'
import type { Hot } from './prepared'

const { accounts, jobs, transfers, users } = schema

/** The drizzle handle every SQLite repository shares. */
export type Db = BunSQLiteDatabase<typeof schema>
/** A database handle or a transaction on it; ledger steps always run inside the caller's transaction. */
export type Tx = BaseSQLiteDatabase<'sync', void, typeof schema>

/**
 * Makes one transfer; a transfer id that already exists changes nothing (returns false).
 * The database's CHECK keeps every non-mint balance at zero or above.
 */
export function transfer(tx: Tx, m: Movement, hot?: Hot): boolean {
  if (m.amount <= 0) return false
  const inserted = hot
    ? hot.insertTransfer.all({
        id: m.id,
        kind: m.kind,
        from: m.from,
        to: m.to,
        amount: m.amount,
        jobId: m.jobId,
        memo: m.memo,
        at: m.at,
      })
    : tx
        .insert(transfers)
        .values(transferRow(m))
        .onConflictDoNothing({ target: transfers.id })
        .returning({ seq: transfers.seq })
        .all()
  if (inserted.length === 0) return false
  shift(tx, m, hot)
  return true
}

/**
 * Moves `s.amount` from one balance to another, writing no transfer row: a `Shift` between one
 * user's two accounts, or the move of a transfer just written. An account paying itself keeps
 * its balance.
 */
export function shift(tx: Tx, s: Shift, hot?: Hot): void {
  if (s.amount <= 0 || s.from === s.to) return
  if (hot) {
    hot.move.run({ from: s.from, to: s.to, amount: s.amount })
    return
  }
  tx.update(accounts)
    .set({ balance: sql`${accounts.balance} - ${s.amount}` })
    .where(eq(accounts.id, s.from))
    .run()
  tx.update(accounts)
    .set({ balance: sql`${accounts.balance} + ${s.amount}` })
    .where(eq(accounts.id, s.to))
    .run()
}

/** Opens the accounts of a new user. */
export function openAccounts(tx: Tx, userId: string): void {
  tx.insert(accounts)
    .values([
      { id: userAccount(userId), kind: 'user', userId, balance: 0 },
      { id: escrowAccount(userId), kind: 'escrow', userId, balance: 0 },
    ])
    .run()
}

/** A user's spendable balance and escrow, in millicredits. */
export function balances(tx: Tx, userId: string, hot?: Hot): { balance: number; escrow: number } {
  const rows = hot
    ? hot.balances.all({ user: userAccount(userId), escrow: escrowAccount(userId) })
    : tx
        .select({ id: accounts.id, balance: accounts.balance })
        .from(accounts)
        .where(inArray(accounts.id, [userAccount(userId), escrowAccount(userId)]))
        .all()
  const get = (id: string) => rows.find((r) => r.id === id)?.balance ?? 0
  return { balance: get(userAccount(userId)), escrow: get(escrowAccount(userId)) }
}

/**
 * Settles a job that reached its final state (see `settlement`); returns what was paid. With
 * `later`, the transfers are left to it (made at the end of the batch's results).
 */
export function settle(
  tx: Tx,
  job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt'>,
  payeeId: string | null,
  cost: number,
  at: number,
  hot?: Hot,
  later?: LaterTransfers,
): number {
  const { paid, pay, release } = settlement(job, payeeId, cost, at)
  if (later) {
    if (pay) later.add([pay])
    later.shift([release])
  } else {
    if (pay) transfer(tx, pay, hot)
    shift(tx, release, hot)
  }
  return paid
}

/** A user's transfers, newest first, before `beforeSeq`. */
export function history(tx: Tx, userId: string, limit: number, beforeSeq?: number): HistoryLine[] {
  const page = historyPage(TRANSFER_PARTY, TRANSFER_PAYEE, userId, limit, beforeSeq)
  const seqs = tx.all<{ seq: number }>(page).map((r) => r.seq)
  if (seqs.length === 0) return []
  const fromAcc = alias(accounts, 'from_acc')
  const toAcc = alias(accounts, 'to_acc')
  const fromUser = alias(users, 'from_user')
  const toUser = alias(users, 'to_user')
  const rows = tx
    .select({ t: transfers, fromUser: fromUser.name, toUser: toUser.name })
    .from(transfers)
    .innerJoin(fromAcc, eq(transfers.fromAccount, fromAcc.id))
    .innerJoin(toAcc, eq(transfers.toAccount, toAcc.id))
    .leftJoin(fromUser, eq(fromAcc.userId, fromUser.id))
    .leftJoin(toUser, eq(toAcc.userId, toUser.id))
    .where(inArray(transfers.seq, seqs))
    .orderBy(desc(transfers.seq))
    .all()
  return historyLines(userId, rows)
}

/** The ledger's invariant, read in the caller's transaction. */
export function audit(tx: Tx): Audit {
  const sums = tx
    .select({
      kind: accounts.kind,
      total: sql<number>`coalesce(sum(${accounts.balance}), 0)`,
      negative: sql<number>`sum(case when ${accounts.balance} < 0 then 1 else 0 end)`,
    })
    .from(accounts)
    .groupBy(accounts.kind)
    .all()
  const minted =
    tx
      .select({ n: sql<number>`coalesce(sum(${transfers.amount}), 0)` })
      .from(transfers)
      .where(eq(transfers.kind, 'grant'))
      .get()?.n ?? 0
  const count =
    tx
      .select({ n: sql<number>`count(*)` })
      .from(transfers)
      .get()?.n ?? 0
  // Live jobs are the jobs_live index (finished_at is null exactly until a job ends).
  const due =
    tx
      .select({ n: sql<number>`coalesce(sum(${jobs.maxCost}), 0)` })
      .from(jobs)
      .where(isNull(jobs.finishedAt))
      .get()?.n ?? 0
  return auditOf(sums, minted, count, due)
}

import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { alias } from 'drizzle-orm/sqlite-core'
import * as schema from '../../../db/sqlite/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import {
  auditOf,
  escrowAccount,
  escrowMovement,
  historyLines,
  insufficientCredits,
  type Movement,
  settlement,
  userAccount,
} from '../ledger-rules'
import type { Audit, HistoryLine } from '../types'
import type { Hot } from './prepared'

const { accounts, transfers, users } = schema

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
  if (hot) {
    const row = { id: m.id, kind: m.kind, from: m.from, to: m.to, amount: m.amount, jobId: m.jobId }
    if (hot.insertTransfer.all({ ...row, memo: m.memo, at: m.at }).length === 0) return false
    // An account paying itself keeps its balance (no movement here ever does).
    if (m.from !== m.to) hot.move.run({ from: m.from, to: m.to, amount: m.amount })
    return true
  }
  const inserted = tx
    .insert(transfers)
    .values({
      id: m.id,
      kind: m.kind,
      fromAccount: m.from,
      toAccount: m.to,
      amount: m.amount,
      jobId: m.jobId,
      memo: m.memo,
      createdAt: m.at,
    })
    .onConflictDoNothing({ target: transfers.id })
    .returning({ seq: transfers.seq })
    .all()
  if (inserted.length === 0) return false
  tx.update(accounts)
    .set({ balance: sql`${accounts.balance} - ${m.amount}` })
    .where(eq(accounts.id, m.from))
    .run()
  tx.update(accounts)
    .set({ balance: sql`${accounts.balance} + ${m.amount}` })
    .where(eq(accounts.id, m.to))
    .run()
  return true
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

/** Holds a job's maximum cost in its owner's escrow, or refuses with 402 and what is missing. */
export function escrow(tx: Tx, job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost'>, at: number, hot?: Hot): void {
  if (hot) {
    // The balance's CHECK refuses an overdraft: the balance is read only to say what is missing.
    try {
      transfer(tx, escrowMovement(job, at), hot)
      return
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_CHECK') throw err
      throw insufficientCredits(job.maxCost, balances(tx, job.ownerId, hot).balance)
    }
  }
  const { balance } = balances(tx, job.ownerId)
  if (balance < job.maxCost) throw insufficientCredits(job.maxCost, balance)
  transfer(tx, escrowMovement(job, at))
}

/** Settles a job that reached its final state (see `settlement`); returns what was paid. */
export function settle(
  tx: Tx,
  job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt'>,
  payeeId: string | null,
  cost: number,
  at: number,
  hot?: Hot,
): number {
  const { paid, movements } = settlement(job, payeeId, cost, at)
  const [pay, refund] = movements
  if (hot && pay && refund && pay.amount > 0 && refund.amount > 0) movePair(hot, pay, refund)
  else for (const m of movements) transfer(tx, m, hot)
  return paid
}

/**
 * The two transfers of one settlement (same job, memo and time; both out of its escrow), as
 * `transfer` makes them, in two statements instead of four: one INSERT of both rows, then one
 * UPDATE of the (up to three) balances by their net change. Each statement costs the
 * coordinator tens of microseconds under load, when SQLite's code and pages are out of cache.
 */
function movePair(hot: Hot, a: Movement, b: Movement): void {
  const made = hot.insertTransferPair.all({
    ida: a.id,
    kinda: a.kind,
    froma: a.from,
    toa: a.to,
    amounta: a.amount,
    idb: b.id,
    kindb: b.kind,
    fromb: b.from,
    tob: b.to,
    amountb: b.amount,
    jobId: a.jobId,
    memo: a.memo,
    at: a.at,
  })
  const net = new Map<string, number>()
  for (const m of [a, b]) {
    if (!made.some((r) => r.id === m.id) || m.from === m.to) continue
    net.set(m.from, (net.get(m.from) ?? 0) - m.amount)
    net.set(m.to, (net.get(m.to) ?? 0) + m.amount)
  }
  const changes = [...net]
  if (changes.length === 0) return
  // Padded with the first account: a CASE takes its first match, so a repeat changes nothing.
  const at = (i: number) => changes[i] ?? changes[0]!
  hot.move3.run({ a: at(0)[0], da: at(0)[1], b: at(1)[0], db: at(1)[1], c: at(2)[0], dc: at(2)[1] })
}

/** A user's transfers, newest first, before `beforeSeq`. */
export function history(tx: Tx, userId: string, limit: number, beforeSeq?: number): HistoryLine[] {
  const mine = [userAccount(userId), escrowAccount(userId)]
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
    .where(
      and(
        or(inArray(transfers.fromAccount, mine), inArray(transfers.toAccount, mine)),
        beforeSeq === undefined ? undefined : lt(transfers.seq, beforeSeq),
      ),
    )
    .orderBy(desc(transfers.seq))
    .limit(limit)
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
  return auditOf(sums, minted, count)
}

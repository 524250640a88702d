import { desc, eq, inArray, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import * as schema from '../../../db/postgres/schema'
import { TRANSFER_PARTY, TRANSFER_PAYEE } from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
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
import { LIVE } from '../job-rules'
import type { Audit, HistoryLine } from '../types'
import type { Tx } from './db'

const { accounts, jobs, transfers, users } = schema

/**
 * Locks the ledger accounts a transaction is about to move, in id order: every ledger step locks
 * its accounts this way first, so two settlements that touch the same users in the opposite
 * order (each paying the other's worker) wait for each other instead of deadlocking.
 *
 * A user's two accounts are locked together, whichever of them moves. History pages go by
 * `transfers.seq`, taken at insert, not at commit: a payment out of alice's escrow and a grant to
 * her balance locking one account each could commit in the other order than their numbers, and a
 * reader paging with `beforeSeq` would step over the lower one for good. Held from before the
 * number is taken until the commit, one lock per user makes every user's lines commit in order.
 */
export async function lockAccounts(tx: Tx, ids: string[]): Promise<Map<string, number>> {
  const owners = ids.flatMap((id) => {
    const user = ownerOf(id)
    return user === undefined ? [id] : [userAccount(user), escrowAccount(user)]
  })
  const rows = await tx
    .select({ id: accounts.id, balance: accounts.balance })
    .from(accounts)
    .where(inArray(accounts.id, [...new Set(owners)].sort()))
    .orderBy(accounts.id)
    .for('update')
  return new Map(rows.map((r) => [r.id, r.balance]))
}

/** The user a ledger account belongs to (undefined for the mint). */
function ownerOf(accountId: string): string | undefined {
  for (const account of [userAccount, escrowAccount]) {
    const prefix = account('')
    if (accountId.startsWith(prefix)) return accountId.slice(prefix.length)
  }
  return undefined
}

/**
 * Makes one transfer; a transfer id that already exists changes nothing (returns false). The
 * CHECK on accounts keeps every non-mint balance at zero or above. The caller has locked both
 * accounts (`lockAccounts`).
 */
export async function transfer(tx: Tx, m: Movement): Promise<boolean> {
  if (m.amount <= 0) return false
  const inserted = await tx
    .insert(transfers)
    .values(transferRow(m))
    .onConflictDoNothing({ target: transfers.id })
    .returning({ seq: transfers.seq })
  if (inserted.length === 0) return false
  await shift(tx, m)
  return true
}

/** Makes movements in the caller's transaction, their accounts locked first in id order. */
export async function move(tx: Tx, movements: Movement[]): Promise<void> {
  const live = movements.filter((m) => m.amount > 0)
  if (live.length === 0) return
  await lockAccounts(
    tx,
    live.flatMap((m) => [m.from, m.to]),
  )
  for (const m of live) await transfer(tx, m)
}

/**
 * Moves `s.amount` from one balance to another in one statement, writing no transfer row: a
 * `Shift` between one user's two accounts, or the move of a transfer just written. An account
 * paying itself keeps its balance. The caller has locked both accounts (`lockAccounts`).
 */
export async function shift(tx: Tx, s: Shift): Promise<void> {
  if (s.amount <= 0 || s.from === s.to) return
  await tx
    .update(accounts)
    .set({
      balance: sql`${accounts.balance} + case ${accounts.id} when ${s.to} then ${s.amount}::bigint else ${-s.amount}::bigint end`,
    })
    .where(inArray(accounts.id, [s.from, s.to]))
}

/** Opens the accounts of a new user. */
export async function openAccounts(tx: Tx, userId: string): Promise<void> {
  await tx.insert(accounts).values([
    { id: userAccount(userId), kind: 'user', userId, balance: 0 },
    { id: escrowAccount(userId), kind: 'escrow', userId, balance: 0 },
  ])
}

/** A user's spendable balance and escrow, in millicredits. */
export async function balances(tx: Tx, userId: string): Promise<{ balance: number; escrow: number }> {
  const rows = await tx
    .select({ id: accounts.id, balance: accounts.balance })
    .from(accounts)
    .where(inArray(accounts.id, [userAccount(userId), escrowAccount(userId)]))
  const get = (id: string) => rows.find((r) => r.id === id)?.balance ?? 0
  return { balance: get(userAccount(userId)), escrow: get(escrowAccount(userId)) }
}

/** Settles a job that reached its final state (see `settlement`); returns what the worker's owner is paid. */
export async function settle(
  tx: Tx,
  job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt'>,
  payeeId: string | null,
  cost: number,
  at: number,
): Promise<number> {
  const { paid, pay, release } = settlement(job, payeeId, cost, at)
  if (!pay && release.amount <= 0) return paid
  await lockAccounts(tx, pay ? [pay.from, pay.to, release.to] : [release.from, release.to])
  if (pay) await transfer(tx, pay)
  await shift(tx, release)
  return paid
}

/** A user's transfers, newest first, before `beforeSeq`. */
export async function history(
  tx: Tx,
  userId: string,
  limit: number,
  beforeSeq?: number,
): Promise<HistoryLine[]> {
  const page = historyPage(TRANSFER_PARTY, TRANSFER_PAYEE, userId, limit, beforeSeq)
  const seqs = [...(await tx.execute<{ seq: string | number }>(page))].map((r) => Number(r.seq))
  if (seqs.length === 0) return []
  const fromAcc = alias(accounts, 'from_acc')
  const toAcc = alias(accounts, 'to_acc')
  const fromUser = alias(users, 'from_user')
  const toUser = alias(users, 'to_user')
  const rows = await tx
    .select({ t: transfers, fromUser: fromUser.name, toUser: toUser.name })
    .from(transfers)
    .innerJoin(fromAcc, eq(transfers.fromAccount, fromAcc.id))
    .innerJoin(toAcc, eq(transfers.toAccount, toAcc.id))
    .leftJoin(fromUser, eq(fromAcc.userId, fromUser.id))
    .leftJoin(toUser, eq(toAcc.userId, toUser.id))
    .where(inArray(transfers.seq, seqs))
    .orderBy(desc(transfers.seq))
  return historyLines(userId, rows)
}

/** The ledger's sums, read by the caller in one snapshot (a REPEATABLE READ transaction). */
export async function audit(tx: Tx): Promise<Audit> {
  const sums = await tx
    .select({
      kind: accounts.kind,
      total: sql<number>`coalesce(sum(${accounts.balance}), 0)`.mapWith(Number),
      negative: sql<number>`count(*) filter (where ${accounts.balance} < 0)`.mapWith(Number),
    })
    .from(accounts)
    .groupBy(accounts.kind)
  const [t] = await tx
    .select({
      minted:
        sql<number>`coalesce(sum(${transfers.amount}) filter (where ${transfers.kind} = 'grant'), 0)`.mapWith(
          Number,
        ),
      count: sql<number>`count(*)`.mapWith(Number),
    })
    .from(transfers)
  // Live jobs (finished_at is null exactly until a job ends), spelt by state for the jobs_queue index.
  const [due] = await tx
    .select({ n: sql<number>`coalesce(sum(${jobs.maxCost}), 0)`.mapWith(Number) })
    .from(jobs)
    .where(inArray(jobs.state, [...LIVE]))
  return auditOf(sums, t?.minted ?? 0, t?.count ?? 0, due?.n ?? 0)
}

import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { alias } from 'drizzle-orm/sqlite-core'
import * as schema from '../db/sqlite/schema'
import type { JobRow } from '../db/sqlite/schema'
import { GridError } from '../errors'
import { formatCredits } from '../protocol/credits'

const { accounts, transfers, users } = schema

/** A database handle or a transaction on it; ledger steps always run inside the caller's transaction. */
export type Tx = BaseSQLiteDatabase<'sync', void, typeof schema>

/** The account ids of a user. */
export const userAccount = (userId: string) => `user:${userId}`
/** The escrow account of a user: credits held for their unfinished jobs. */
export const escrowAccount = (userId: string) => `escrow:${userId}`
/** Where grants come from; its balance is minus everything ever minted. */
export const MINT = 'mint'

/** One movement of credits. */
export interface Movement {
  id: string
  kind: 'grant' | 'escrow' | 'pay' | 'refund'
  from: string
  to: string
  amount: number
  jobId: string | null
  memo: string | null
  at: number
}

/**
 * Makes one transfer; a transfer id that already exists changes nothing (returns false).
 * The database's CHECK keeps every non-mint balance at zero or above.
 */
export function transfer(tx: Tx, m: Movement): boolean {
  if (m.amount <= 0) return false
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
export function balances(tx: Tx, userId: string): { balance: number; escrow: number } {
  const rows = tx
    .select({ id: accounts.id, balance: accounts.balance })
    .from(accounts)
    .where(inArray(accounts.id, [userAccount(userId), escrowAccount(userId)]))
    .all()
  const get = (id: string) => rows.find((r) => r.id === id)?.balance ?? 0
  return { balance: get(userAccount(userId)), escrow: get(escrowAccount(userId)) }
}

/** Holds a job's maximum cost in its owner's escrow, or refuses with 402 and what is missing. */
export function escrow(tx: Tx, job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost'>, at: number): void {
  const { balance } = balances(tx, job.ownerId)
  if (balance < job.maxCost) {
    throw new GridError(
      'insufficient_credits',
      `insufficient credits: this job may cost up to ${formatCredits(job.maxCost)} credits and you have ${formatCredits(balance)} (${formatCredits(job.maxCost - balance)} missing). Lower --timeout or --cpus, or earn credits by running 'gridx work'.`,
      { status: 402 },
    )
  }
  transfer(tx, {
    id: `escrow:${job.id}:0`,
    kind: 'escrow',
    from: userAccount(job.ownerId),
    to: escrowAccount(job.ownerId),
    amount: job.maxCost,
    jobId: job.id,
    memo: null,
    at,
  })
}

/**
 * Settles a job that reached its final state: `cost` (capped at the escrow) to the worker's
 * owner, the rest back to the submitter. Transfer ids are unique per (kind, job, attempt).
 */
export function settle(
  tx: Tx,
  job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt'>,
  payeeId: string | null,
  cost: number,
  at: number,
): number {
  const paid = payeeId ? Math.min(Math.max(0, cost), job.maxCost) : 0
  const from = escrowAccount(job.ownerId)
  transfer(tx, {
    id: `pay:${job.id}:${job.attempt}`,
    kind: 'pay',
    from,
    to: userAccount(payeeId ?? job.ownerId),
    amount: paid,
    jobId: job.id,
    memo: null,
    at,
  })
  transfer(tx, {
    id: `refund:${job.id}:${job.attempt}`,
    kind: 'refund',
    from,
    to: userAccount(job.ownerId),
    amount: job.maxCost - paid,
    jobId: job.id,
    memo: null,
    at,
  })
  return paid
}

/** One line of a user's credit history, seen from their side. */
export interface HistoryLine {
  seq: number
  at: number
  kind: Movement['kind']
  jobId: string | null
  counterparty: string
  /** Signed millicredits: positive when credits came to this user's spendable balance. */
  amount: number
  /** Which of the user's accounts moved: spendable balance or escrow. */
  account: 'balance' | 'escrow'
  memo: string | null
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
  const lines: HistoryLine[] = []
  for (const { t, fromUser: fu, toUser: tu } of rows) {
    const outgoing = mine.includes(t.fromAccount)
    const incoming = mine.includes(t.toAccount)
    const base = { seq: t.seq, at: t.createdAt, kind: t.kind, jobId: t.jobId, memo: t.memo }
    if (outgoing && incoming) {
      // Between this user's own accounts (escrow, refund, own job on own worker): show both sides.
      const toEscrow = t.toAccount === escrowAccount(userId)
      lines.push({
        ...base,
        counterparty: 'yourself',
        amount: toEscrow ? -t.amount : t.amount,
        account: 'balance',
      })
      continue
    }
    if (incoming) {
      lines.push({
        ...base,
        counterparty: t.fromAccount === MINT ? 'grant' : (fu ?? '?'),
        amount: t.amount,
        account: t.toAccount === escrowAccount(userId) ? 'escrow' : 'balance',
      })
    } else {
      lines.push({
        ...base,
        counterparty: tu ?? '?',
        amount: -t.amount,
        account: t.fromAccount === escrowAccount(userId) ? 'escrow' : 'balance',
      })
    }
  }
  return lines
}

/** The ledger's invariant, checkable at any time. */
export interface Audit {
  minted: number
  balances: number
  escrow: number
  mintBalance: number
  negativeAccounts: number
  transfers: number
  ok: boolean
}

/** Sum of balances + escrow must equal everything ever granted, and no account may be negative. */
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
  const total = (k: string) => sums.find((s) => s.kind === k)?.total ?? 0
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
  const negativeAccounts = sums.filter((s) => s.kind !== 'mint').reduce((n, s) => n + s.negative, 0)
  const balancesTotal = total('user')
  const escrowTotal = total('escrow')
  return {
    minted,
    balances: balancesTotal,
    escrow: escrowTotal,
    mintBalance: total('mint'),
    negativeAccounts,
    transfers: count,
    ok: balancesTotal + escrowTotal === minted && total('mint') === -minted && negativeAccounts === 0,
  }
}

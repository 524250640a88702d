import { type SQL, sql } from 'drizzle-orm'
import type { JobRow, TransferRow } from '../../db/sqlite/schema'
import { GridError } from '../../errors'
import { formatCredits } from '../../protocol/credits'
import type { Audit, HistoryLine } from './types'

/*
 * What the double-entry ledger means, whatever engine stores it: the accounts, the movements a
 * submission, a settlement and a grant make, and how a user's history and the audit read.
 */

/** The spendable account of a user. */
export const userAccount = (userId: string) => `user:${userId}`
/** The escrow account of a user: credits held for their unfinished jobs. */
export const escrowAccount = (userId: string) => `escrow:${userId}`
/** Where grants come from; its balance is minus everything ever minted. */
export const MINT = 'mint'

/**
 * One movement of credits from one user to another (or from the mint); its id is unique per
 * (kind, job, attempt), so it can never be made twice. Ledgers written before holds were shifts
 * (`Shift`) also hold transfers of kind 'escrow' and 'refund'; they still read in history.
 */
export interface Movement {
  id: string
  kind: 'grant' | 'pay'
  from: string
  to: string
  amount: number
  jobId: string | null
  memo: string | null
  at: number
}

/** A movement as its row of the transfers table (the same columns on both engines). */
export function transferRow(m: Movement) {
  return {
    id: m.id,
    kind: m.kind,
    fromAccount: m.from,
    toAccount: m.to,
    amount: m.amount,
    jobId: m.jobId,
    memo: m.memo,
    createdAt: m.at,
  }
}

/** A grant of `amount` to a user, minted. */
export function grantMovement(
  userId: string,
  id: string,
  amount: number,
  memo: string,
  at: number,
): Movement {
  return { id, kind: 'grant', from: MINT, to: userAccount(userId), amount, jobId: null, memo, at }
}

/** The 402 for a submission its owner cannot afford, saying what is missing and what to do. */
export function insufficientCredits(maxCost: number, balance: number): GridError {
  return new GridError(
    'insufficient_credits',
    `insufficient credits: this job may cost up to ${formatCredits(maxCost)} credits and you have ${formatCredits(balance)} (${formatCredits(maxCost - balance)} missing). Lower --timeout or --cpus, or earn credits by running 'gridx work'.`,
    { status: 402 },
  )
}

/**
 * A move between one user's own two accounts: their balance to their escrow when a job is
 * submitted (its maximum cost), what is left of it back when the job is settled. It is not a
 * transfer: no credits change hands, and the job row already says it (its max_cost while it is
 * live, its cost once it ended), so no transfers row is written for it. Written as transfers, a
 * hold and its release were two of a job's three ledger rows: on SQLite 7% of the coordinator's
 * CPU a job and a quarter of what it wrote (the dispatch bench, alternated runs). Transfers
 * explain each user's balance and escrow together; the audit checks the escrow against the live
 * jobs (`auditOf`).
 */
export interface Shift {
  from: string
  to: string
  amount: number
}

/** Holding a job's maximum cost in its owner's escrow. */
export function hold(job: Pick<JobRow, 'ownerId' | 'maxCost'>): Shift {
  return { from: userAccount(job.ownerId), to: escrowAccount(job.ownerId), amount: job.maxCost }
}

/**
 * Settling a job that reached its final state: `cost` (capped at the escrow) paid out of its
 * owner's escrow to the worker's owner (a transfer, none when nothing is paid), the rest of its
 * hold released to its owner's balance; returns what is paid, the pay and the release.
 */
export function settlement(
  job: Pick<JobRow, 'id' | 'ownerId' | 'maxCost' | 'attempt'>,
  payeeId: string | null,
  cost: number,
  at: number,
): { paid: number; pay: Movement | null; release: Shift } {
  const paid = payeeId ? Math.min(Math.max(0, cost), job.maxCost) : 0
  const escrow = escrowAccount(job.ownerId)
  const pay: Movement | null =
    payeeId && paid > 0
      ? {
          id: `pay:${job.id}:${job.attempt}`,
          kind: 'pay',
          from: escrow,
          to: userAccount(payeeId),
          amount: paid,
          jobId: job.id,
          memo: null,
          at,
        }
      : null
  return { paid, pay, release: { from: escrow, to: userAccount(job.ownerId), amount: job.maxCost - paid } }
}

/** A transfer with the names of the users on each side, as history reads it. */
export interface NamedTransfer {
  t: TransferRow
  fromUser: string | null
  toUser: string | null
}

/**
 * A user's transfers as lines seen from their side, each signed by how it changed what they have
 * (balance and escrow together), so the lines add up to it: a transfer between their own two
 * accounts (their own job paid to their own worker; an escrow or a refund in a ledger from
 * before holds were shifts) shows once, as 0.
 */
export function historyLines(userId: string, rows: NamedTransfer[]): HistoryLine[] {
  const mine = [userAccount(userId), escrowAccount(userId)]
  const lines: HistoryLine[] = []
  for (const { t, fromUser: fu, toUser: tu } of rows) {
    const outgoing = mine.includes(t.fromAccount)
    const incoming = mine.includes(t.toAccount)
    const base = { seq: t.seq, at: t.createdAt, kind: t.kind, jobId: t.jobId, memo: t.memo }
    if (outgoing && incoming) {
      lines.push({
        ...base,
        counterparty: 'yourself',
        amount: 0,
        account: t.toAccount === escrowAccount(userId) ? 'escrow' : 'balance',
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

/**
 * The audit from the sums an engine read in one consistent snapshot: balances + escrow must equal
 * everything ever granted, the mint must hold minus that, no account but the mint may be negative,
 * and escrow must hold exactly the maximum cost of every job not yet ended (`escrowDue`).
 */
export function auditOf(
  sums: { kind: string; total: number; negative: number }[],
  minted: number,
  transfers: number,
  escrowDue: number,
): Audit {
  const total = (k: string) => sums.find((s) => s.kind === k)?.total ?? 0
  const negativeAccounts = sums.filter((s) => s.kind !== 'mint').reduce((n, s) => n + s.negative, 0)
  const balances = total('user')
  const escrow = total('escrow')
  return {
    minted,
    balances,
    escrow,
    escrowDue,
    mintBalance: total('mint'),
    negativeAccounts,
    transfers,
    ok:
      balances + escrow === minted &&
      total('mint') === -minted &&
      negativeAccounts === 0 &&
      escrow === escrowDue,
  }
}
/**
 * The transfer numbers of a user's history page, newest first: the newest `limit` of each of their
 * two index ranges (what is filed under them, what others paid them), merged, so each side reads
 * at most `limit` entries however long the history. `party` and `payee` are the engine's indexed
 * expressions (its schema's TRANSFER_PARTY and TRANSFER_PAYEE), spelt as its indexes are.
 */
export function historyPage(
  party: string,
  payee: string,
  userId: string,
  limit: number,
  beforeSeq?: number,
): SQL {
  const before = beforeSeq ?? Number.MAX_SAFE_INTEGER
  const newest = (where: SQL) =>
    sql`SELECT seq FROM transfers WHERE ${where} AND seq < ${before} ORDER BY seq DESC LIMIT ${limit}`
  const filed = newest(sql`${sql.raw(party)} = ${userId}`)
  const paid = newest(sql`kind = 'pay' AND ${sql.raw(payee)} = ${userId}`)
  return sql`SELECT seq FROM (${filed}) AS filed UNION SELECT seq FROM (${paid}) AS paid ORDER BY seq DESC LIMIT ${limit}`
}

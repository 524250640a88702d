import { eq, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import { userNotFound } from '../account-rules'
import { grantMovement } from '../ledger-rules'
import type { CreditsRepo } from '../types'
import { audit, balances, type Db, history, transfer } from './ledger'

const { accounts, users } = schema

/** Grants, balances and the audit on SQLite. */
export function sqliteCredits(db: Db): CreditsRepo {
  return {
    grant: async (userName, amount, memo, at) =>
      db.transaction((tx) => {
        const user = tx.select().from(users).where(eq(users.name, userName)).get()
        if (!user) throw userNotFound(userName)
        transfer(tx, grantMovement(user.id, `grant:${user.id}:${crypto.randomUUID()}`, amount, memo, at))
      }),
    of: async (userId, limit, beforeSeq) =>
      db.transaction((tx) => ({ ...balances(tx, userId), history: history(tx, userId, limit, beforeSeq) })),
    audit: async () => db.transaction((tx) => audit(tx)),
    escrowTotal: async () =>
      db
        .select({ n: sql<number>`coalesce(sum(${accounts.balance}), 0)` })
        .from(accounts)
        .where(eq(accounts.kind, 'escrow'))
        .get()?.n ?? 0,
  }
}

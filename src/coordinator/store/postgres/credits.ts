import { eq, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import { userNotFound } from '../account-rules'
import { grantMovement } from '../ledger-rules'
import type { CreditsRepo } from '../types'
import type { Db } from './db'
import { audit, balances, history, move } from './ledger'

const { accounts, users } = schema

/** The credit ledger on PostgreSQL as users and operators see it. */
export function pgCredits(db: Db): CreditsRepo {
  return {
    grant: async (userName, amount, memo, at) => {
      await db.transaction(async (tx) => {
        const [user] = await tx.select().from(users).where(eq(users.name, userName))
        if (!user) throw userNotFound(userName)
        await move(tx, [grantMovement(user.id, `grant:${user.id}:${crypto.randomUUID()}`, amount, memo, at)])
      })
    },
    // Balances and history from one snapshot, so they agree with each other.
    of: async (userId, limit, beforeSeq) =>
      await db.transaction(
        async (tx) => ({
          ...(await balances(tx, userId)),
          history: await history(tx, userId, limit, beforeSeq),
        }),
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      ),
    audit: async () =>
      await db.transaction(async (tx) => await audit(tx), {
        isolationLevel: 'repeatable read',
        accessMode: 'read only',
      }),
    escrowTotal: async () => {
      const [row] = await db
        .select({ n: sql<number>`coalesce(sum(${accounts.balance}), 0)`.mapWith(Number) })
        .from(accounts)
        .where(eq(accounts.kind, 'escrow'))
      return row?.n ?? 0
    },
  }
}

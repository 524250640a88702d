import { and, desc, eq, exists, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { InviteRow } from '../../../db/sqlite/schema'
import { GridError } from '../../../errors'
import type { InviteView, NewInvite } from '../../../protocol/api'
import { newId } from '../../../protocol/ids'
import {
  ASK,
  inviteHash,
  inviteNotFound,
  inviteView,
  LIST_LIMIT,
  newInviteCode,
  refusal,
} from '../invite-rules'
import type { InviteOptions, InvitesRepo } from '../types'
import type { Db, Tx } from './ledger'

const { invites, users } = schema

/** Whether the account that made an invite is an operator now (dropped from --admin, it is not). */
function isOperator(tx: Tx, userId: string): boolean {
  return tx.select({ isAdmin: users.isAdmin }).from(users).where(eq(users.id, userId)).get()?.isAdmin === true
}

/** Throws the 403 that says why the invite with this code hash cannot admit anyone now, if it cannot. */
export function checkInvite(tx: Tx, hash: string, now: number): void {
  const row = tx.select().from(invites).where(eq(invites.codeHash, hash)).get()
  const err = refusal(row, now, row !== undefined && isOperator(tx, row.createdBy))
  if (err) throw err
}

/**
 * Uses one admission of an invite, in the caller's transaction (the one that creates the
 * account): one conditional update, so concurrent sign-ups cannot use it more than `uses` times,
 * and only while its maker is an operator (a right given by --admin at each start, so it can end).
 */
export function consumeInvite(tx: Tx, hash: string, now: number): InviteRow {
  const row = tx
    .update(invites)
    .set({ used: sql`${invites.used} + 1` })
    .where(
      and(
        eq(invites.codeHash, hash),
        lt(invites.used, invites.uses),
        gt(invites.expiresAt, now),
        isNull(invites.revokedAt),
        exists(
          tx
            .select({ id: users.id })
            .from(users)
            .where(and(eq(users.id, invites.createdBy), eq(users.isAdmin, true))),
        ),
      ),
    )
    .returning()
    .get()
  if (row) return row
  checkInvite(tx, hash, now)
  throw new GridError('invite_invalid', `this invite cannot be used: ${ASK}`, { status: 403 })
}

function views(tx: Tx, rows: InviteRow[], now: number): InviteView[] {
  const ids = rows.map((r) => r.id)
  const members = ids.length
    ? tx
        .select({ inviteId: users.inviteId, name: users.name })
        .from(users)
        .where(inArray(users.inviteId, ids))
        .all()
    : []
  const makers = rows.map((r) => r.createdBy)
  const creators = new Map(
    tx
      .select({ id: users.id, name: users.name, isAdmin: users.isAdmin })
      .from(users)
      .where(inArray(users.id, makers))
      .all()
      .map((u) => [u.id, u]),
  )
  return rows.map((r) =>
    inviteView(
      r,
      now,
      creators.get(r.createdBy),
      members.filter((m) => m.inviteId === r.id).map((m) => m.name),
    ),
  )
}

/** Stores a new invite (its code's hash) made by an operator; returns it with its code. */
export function createInvite(tx: Tx, by: string, opts: InviteOptions): NewInvite {
  const code = opts.code ?? newInviteCode()
  const row: InviteRow = {
    id: newId(),
    codeHash: inviteHash(code),
    createdBy: by,
    grantMc: opts.grantMc,
    uses: opts.uses,
    used: opts.used ?? 0,
    createdAt: opts.now,
    expiresAt: opts.expiresAt,
    revokedAt: null,
  }
  tx.insert(invites).values(row).run()
  return { ...views(tx, [row], opts.now)[0]!, code }
}

/** Invites on SQLite. */
export function sqliteInvites(db: Db): InvitesRepo {
  return {
    create: async (byUserId, opts) => db.transaction((tx) => createInvite(tx, byUserId, opts)),
    check: async (hash, now) => checkInvite(db, hash, now),
    list: async (now) =>
      db.transaction((tx) => {
        const rows = tx
          .select()
          .from(invites)
          .orderBy(desc(invites.createdAt), desc(invites.id))
          .limit(LIST_LIMIT)
          .all()
        return views(tx, rows, now)
      }),
    // Revoking twice is harmless; accounts it made stay.
    revoke: async (id, now) =>
      db.transaction((tx) => {
        const row = tx.select().from(invites).where(eq(invites.id, id)).get()
        if (!row) throw inviteNotFound(id)
        const revoked = row.revokedAt === null ? { ...row, revokedAt: now } : row
        tx.update(invites).set({ revokedAt: revoked.revokedAt }).where(eq(invites.id, id)).run()
        return views(tx, [revoked], now)[0]!
      }),
  }
}

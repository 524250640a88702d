import { and, desc, eq, exists, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
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
import type { Db, Tx } from './db'

const { invites, users } = schema

/** Whether the account that made an invite is an operator now (dropped from --admin, it is not). */
async function isOperator(tx: Tx, userId: string): Promise<boolean> {
  const [u] = await tx.select({ isAdmin: users.isAdmin }).from(users).where(eq(users.id, userId))
  return u?.isAdmin === true
}

/** Throws the 403 that says why the invite with this code hash cannot admit anyone now, if it cannot. */
async function check(tx: Tx, hash: string, now: number): Promise<void> {
  const [row] = await tx.select().from(invites).where(eq(invites.codeHash, hash))
  const err = refusal(row, now, row ? await isOperator(tx, row.createdBy) : false)
  if (err) throw err
}

/**
 * Uses one admission of an invite, in the caller's transaction (the one that creates the
 * account): one conditional update, so concurrent sign-ups on any coordinator cannot use it more
 * than `uses` times (the row lock makes the second re-check the condition), and only while its
 * maker is an operator.
 */
export async function consumeInvite(tx: Tx, hash: string, now: number): Promise<InviteRow> {
  const [row] = await tx
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
  if (row) return row
  await check(tx, hash, now)
  throw new GridError('invite_invalid', `this invite cannot be used: ${ASK}`, { status: 403 })
}

async function views(tx: Tx, rows: InviteRow[], now: number): Promise<InviteView[]> {
  if (rows.length === 0) return []
  const members = await tx
    .select({ inviteId: users.inviteId, name: users.name })
    .from(users)
    .where(
      inArray(
        users.inviteId,
        rows.map((r) => r.id),
      ),
    )
    .orderBy(users.createdAt, schema.usersMade)
  const makers = await tx
    .select({ id: users.id, name: users.name, isAdmin: users.isAdmin })
    .from(users)
    .where(
      inArray(
        users.id,
        rows.map((r) => r.createdBy),
      ),
    )
  const byId = new Map(makers.map((u) => [u.id, u]))
  return rows.map((r) =>
    inviteView(
      r,
      now,
      byId.get(r.createdBy),
      members.filter((m) => m.inviteId === r.id).map((m) => m.name),
    ),
  )
}

/** Stores a new invite (its code's hash) made by an operator, in the caller's transaction; returns it with its code. */
export async function createInvite(tx: Tx, by: string, opts: InviteOptions): Promise<NewInvite> {
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
  await tx.insert(invites).values(row)
  return { ...(await views(tx, [row], opts.now))[0]!, code }
}

/** Invites on PostgreSQL. */
export class PgInvites implements InvitesRepo {
  constructor(private readonly db: Db) {}

  async create(byUserId: string, opts: InviteOptions): Promise<NewInvite> {
    return await this.db.transaction((tx) => createInvite(tx, byUserId, opts))
  }

  async check(hash: string, now: number): Promise<void> {
    await check(this.db, hash, now)
  }

  async list(now: number): Promise<InviteView[]> {
    return await this.db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(invites)
        .orderBy(desc(invites.createdAt), desc(invites.id))
        .limit(LIST_LIMIT)
      return await views(tx, rows, now)
    })
  }

  /** Revokes an invite so it admits no one more (accounts it made stay); revoking twice is harmless. */
  async revoke(id: string, now: number): Promise<InviteView> {
    return await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(invites)
        .set({ revokedAt: sql`coalesce(${invites.revokedAt}, ${now})` })
        .where(eq(invites.id, id))
        .returning()
      if (!row) throw inviteNotFound(id)
      return (await views(tx, [row], now))[0]!
    })
  }
}

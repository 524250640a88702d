import { createHash } from 'node:crypto'
import { and, desc, eq, exists, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import * as schema from '../db/sqlite/schema'
import type { InviteRow } from '../db/sqlite/schema'
import { assertNever, GridError } from '../errors'
import type { InviteView, SignupMode } from '../protocol/api'
import { newId } from '../protocol/ids'
import type { Tx } from './ledger'

const { invites, users } = schema

/** Invite codes carry 192 random bits, so they cannot be guessed; only their SHA-256 is stored. */
const CODE_BYTES = 24

/** Most invites `GET /api/invites` lists, newest first. */
const LIST_LIMIT = 500

/** A fresh invite code. */
export function newInviteCode(): string {
  return `gxi_${Buffer.from(crypto.getRandomValues(new Uint8Array(CODE_BYTES))).toString('base64url')}`
}

/** Hash used to look an invite up without storing its code. */
export function inviteHash(code: string): string {
  return createHash('sha256').update(code.trim()).digest('hex')
}

const ASK = "ask the coordinator's operator for a new one ('gridx invite')"

/**
 * Why a sign-up is refused by the coordinator's sign-up mode alone, before anything is spent on it;
 * undefined when it may go on. The first account (the operator) always may.
 */
export function signupRefusal(mode: SignupMode, first: boolean, hasInvite: boolean): GridError | undefined {
  if (first) return undefined
  switch (mode) {
    case 'open':
      return undefined
    case 'invite':
      return hasInvite
        ? undefined
        : new GridError(
            'invite_required',
            "this coordinator admits new accounts by invite: ask its operator for one ('gridx invite') and run gridx register --invite CODE",
            { status: 403 },
          )
    case 'closed':
      return new GridError(
        'signup_closed',
        "this coordinator accepts no new accounts (it runs with --signup closed): ask its operator to admit you ('gridx serve --signup invite', then 'gridx invite')",
        { status: 403 },
      )
    default:
      return assertNever(mode)
  }
}

/** `byOperator`: whether the invite's maker is an operator now; an invite admits only while they are. */
function stateOf(row: InviteRow, now: number, byOperator: boolean): InviteView['state'] {
  if (row.revokedAt !== null) return 'revoked'
  if (row.used >= row.uses) return 'used'
  if (row.expiresAt <= now) return 'expired'
  if (!byOperator) return 'void'
  return 'active'
}

/** Whether the account that made an invite is an operator now (dropped from --admin, it is not). */
function isOperator(tx: Tx, userId: string): boolean {
  return tx.select({ isAdmin: users.isAdmin }).from(users).where(eq(users.id, userId)).get()?.isAdmin === true
}

/** The 403 for an invite that cannot admit anyone now (undefined when it can). */
function refusal(tx: Tx, row: InviteRow | undefined, now: number): GridError | undefined {
  if (!row) {
    return new GridError(
      'invite_invalid',
      `this invite code is not valid on this coordinator: check that it was copied whole and that --coordinator names the coordinator it came from, or ${ASK}`,
      { status: 403 },
    )
  }
  const state = stateOf(row, now, isOperator(tx, row.createdBy))
  switch (state) {
    case 'active':
      return undefined
    case 'void':
      return new GridError(
        'invite_void',
        'this invite was made by someone who is no longer an operator of this coordinator: ask an operator for a new one',
        { status: 403 },
      )
    case 'revoked':
      return new GridError('invite_revoked', `this invite was revoked: ${ASK}`, { status: 403 })
    case 'used':
      return new GridError(
        'invite_used',
        `this invite has been used up (${row.used} of ${row.uses} accounts): ${ASK}`,
        { status: 403 },
      )
    case 'expired':
      return new GridError(
        'invite_expired',
        `this invite expired at ${new Date(row.expiresAt).toISOString()}: ${ASK}`,
        { status: 403 },
      )
    default:
      return assertNever(state)
  }
}

/** Throws the 403 that says why the invite with this code hash cannot admit anyone now, if it cannot. */
export function checkInvite(tx: Tx, hash: string, now: number): void {
  const err = refusal(tx, tx.select().from(invites).where(eq(invites.codeHash, hash)).get(), now)
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
  const creators = new Map(
    tx
      .select({ id: users.id, name: users.name, isAdmin: users.isAdmin })
      .from(users)
      .where(
        inArray(
          users.id,
          rows.map((r) => r.createdBy),
        ),
      )
      .all()
      .map((u) => [u.id, u]),
  )
  const iso = (t: number) => new Date(t).toISOString()
  return rows.map((r) => ({
    id: r.id,
    createdBy: creators.get(r.createdBy)?.name ?? r.createdBy,
    grantMc: r.grantMc,
    uses: r.uses,
    used: r.used,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    revokedAt: r.revokedAt === null ? null : iso(r.revokedAt),
    state: stateOf(r, now, creators.get(r.createdBy)?.isAdmin === true),
    usedBy: members.filter((m) => m.inviteId === r.id).map((m) => m.name),
  }))
}

/** An invite announced before its maker exists: `gridx serve`'s join token, before the first account. */
export interface PendingInvite {
  code: string
  grantMc: number
  uses: number
  expiresAt: number
}

/** Stores a new invite (its code's hash) made by an operator; returns it with its code. */
export function createInvite(
  tx: Tx,
  by: string,
  opts: { grantMc: number; uses: number; expiresAt: number; now: number; code?: string; used?: number },
): InviteView & { code: string } {
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

/** Every invite, newest first (up to a limit), with who made it and who used it. */
export function listInvites(tx: Tx, now: number): InviteView[] {
  const rows = tx
    .select()
    .from(invites)
    .orderBy(desc(invites.createdAt), desc(invites.id))
    .limit(LIST_LIMIT)
    .all()
  return views(tx, rows, now)
}

/** Revokes an invite so it admits no one more (accounts it made stay); revoking twice is harmless. */
export function revokeInvite(tx: Tx, id: string, now: number): InviteView {
  const row = tx.select().from(invites).where(eq(invites.id, id)).get()
  if (!row) {
    throw new GridError('invite_not_found', `no invite '${id}': 'gridx invite --list' shows them`, {
      status: 404,
    })
  }
  const revoked = row.revokedAt === null ? { ...row, revokedAt: now } : row
  tx.update(invites).set({ revokedAt: revoked.revokedAt }).where(eq(invites.id, id)).run()
  return views(tx, [revoked], now)[0]!
}

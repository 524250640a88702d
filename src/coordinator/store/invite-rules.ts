import { createHash } from 'node:crypto'
import type { InviteRow } from '../../db/sqlite/schema'
import { assertNever, GridError } from '../../errors'
import type { InviteView, SignupMode } from '../../protocol/api'

/*
 * What invites mean, whatever engine stores them: codes and their hashes, the sign-up modes,
 * an invite's state and the refusal that says why it admits no one.
 */

/** Invite codes carry 192 random bits, so they cannot be guessed; only their SHA-256 is stored. */
const CODE_BYTES = 24

/** Most invites `GET /api/invites` lists, newest first. */
export const LIST_LIMIT = 500

/** A fresh invite code. */
export function newInviteCode(): string {
  return `gxi_${Buffer.from(crypto.getRandomValues(new Uint8Array(CODE_BYTES))).toString('base64url')}`
}

/** Hash used to look an invite up without storing its code. */
export function inviteHash(code: string): string {
  return createHash('sha256').update(code.trim()).digest('hex')
}

/** How every refusal ends: where a new invite comes from. */
export const ASK = "ask the coordinator's operator for a new one ('gridx invite')"

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
export function stateOf(row: InviteRow, now: number, byOperator: boolean): InviteView['state'] {
  if (row.revokedAt !== null) return 'revoked'
  if (row.used >= row.uses) return 'used'
  if (row.expiresAt <= now) return 'expired'
  if (!byOperator) return 'void'
  return 'active'
}

/** The 403 for an invite that cannot admit anyone now (undefined when it can). */
export function refusal(row: InviteRow | undefined, now: number, byOperator: boolean): GridError | undefined {
  if (!row) {
    return new GridError(
      'invite_invalid',
      `this invite code is not valid on this coordinator: check that it was copied whole and that --coordinator names the coordinator it came from, or ${ASK}`,
      { status: 403 },
    )
  }
  const state = stateOf(row, now, byOperator)
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

/** An invite as `GET /api/invites` shows it: its maker's name and operator right, and who used it. */
export function inviteView(
  r: InviteRow,
  now: number,
  maker: { name: string; isAdmin: boolean } | undefined,
  usedBy: string[],
): InviteView {
  const iso = (t: number) => new Date(t).toISOString()
  return {
    id: r.id,
    createdBy: maker?.name ?? r.createdBy,
    grantMc: r.grantMc,
    uses: r.uses,
    used: r.used,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    revokedAt: r.revokedAt === null ? null : iso(r.revokedAt),
    state: stateOf(r, now, maker?.isAdmin === true),
    usedBy,
  }
}

/** The 404 for revoking an invite that does not exist. */
export function inviteNotFound(id: string): GridError {
  return new GridError('invite_not_found', `no invite '${id}': 'gridx invite --list' shows them`, { status: 404 })
}

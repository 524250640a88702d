import type { SQL } from 'bun'
import { and, asc, eq, gt, inArray, or, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { UserRow } from '../../../db/sqlite/schema'
import { userExists } from '../account-rules'
import { inviteHash, signupRefusal } from '../invite-rules'
import { Sessions } from '../sessions'
import { grantMovement } from '../ledger-rules'
import type { AccountsRepo, Admission } from '../types'
import type { Db, Tx } from './db'
import { consumeInvite, createInvite } from './invites'
import { move, openAccounts } from './ledger'

const { users, tokens, usersMade } = schema

/**
 * The advisory lock that orders sign-ups and operator changes across coordinators (the bytes of
 * "gridx ac"): whether an account is the first, and so the operator, is decided by one at a time,
 * as SQLite's single writer decides it.
 */
const ACCOUNTS_LOCK = 0x677269647820_6163n

async function lockAccounts(tx: Tx): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${ACCOUNTS_LOCK.toString()}::bigint)`)
}

/** Where a coordinator tells the others that a token was revoked (its hash) or users' rights changed ('*'). */
const TOKENS_CHANNEL = 'gridx_tokens'

/**
 * Longest a token's user is kept without a read: the bound on a revocation another coordinator
 * did not hear of (its word arrives within milliseconds; Nomad keeps ACL tokens 30 s).
 */
export const SESSION_TTL_MS = 10_000

/** Accounts, operators and tokens on PostgreSQL. */
export class PgAccounts implements AccountsRepo {
  /** Tokens' users as last read; every coordinator's change of them is told on TOKENS_CHANNEL. */
  private readonly sessions = new Sessions(SESSION_TTL_MS)
  /** Listening on TOKENS_CHANNEL, begun at the first token read: until it listens nothing is kept. */
  private listening: 'no' | 'starting' | 'yes' = 'no'

  constructor(
    private readonly db: Db,
    private readonly client?: SQL,
  ) {}

  /**
   * Whether this coordinator hears the others' changes, starting to listen if it does not: each
   * (re)connect of the listener forgets everything kept. Never waited for, so a listen that hangs
   * holds up no request (they read, as without a cache).
   */
  private hears(): boolean {
    if (this.listening !== 'no' || !this.client) return this.listening === 'yes'
    this.listening = 'starting'
    this.client
      .listen(
        TOKENS_CHANNEL,
        (hash: string) => this.sessions.drop(hash === '*' ? undefined : hash),
        () => this.sessions.drop(),
      )
      .then(
        () => (this.listening = 'yes'),
        () => (this.listening = 'no'),
      )
    return false
  }

  async create(row: Omit<UserRow, 'isAdmin' | 'inviteId'>, admission: Admission): Promise<UserRow> {
    return await this.db.transaction(async (tx) => {
      await lockAccounts(tx)
      const [taken] = await tx.select({ id: users.id }).from(users).where(eq(users.name, row.name))
      if (taken) throw userExists(row.name)
      const first = (await tx.select({ id: users.id }).from(users).limit(1)).length === 0
      const refused = signupRefusal(admission.signup, first, admission.inviteHash !== undefined)
      if (refused) throw refused
      const invite =
        first || admission.inviteHash === undefined
          ? undefined
          : await consumeInvite(tx, admission.inviteHash, row.createdAt)
      const user: UserRow = { ...row, isAdmin: first, inviteId: invite?.id ?? null }
      await tx.insert(users).values(user)
      const pending = first ? admission.firstInvite : undefined
      // The token printed at start keeps admitting the next machines, as an invite of the operator.
      if (pending) {
        const used = admission.inviteHash === inviteHash(pending.code) ? 1 : 0
        const made = await createInvite(tx, user.id, { ...pending, now: row.createdAt, used })
        if (used) {
          await tx.update(users).set({ inviteId: made.id }).where(eq(users.id, user.id))
          user.inviteId = made.id
        }
      }
      await openAccounts(tx, user.id)
      const memo = invite ? `welcome grant (invite ${invite.id})` : 'welcome grant'
      const amount = invite ? invite.grantMc : admission.grant
      await move(tx, [grantMovement(user.id, `grant:${user.id}:signup`, amount, memo, row.createdAt)])
      return user
    })
  }

  async exist(): Promise<boolean> {
    return (await this.db.select({ id: users.id }).from(users).limit(1)).length > 0
  }

  async setOperators(admins: readonly string[]): Promise<{ operators: string[]; missing: string[] }> {
    return await this.db.transaction(async (tx) => {
      await lockAccounts(tx)
      const listed = [...new Set(admins)]
      const first = tx
        .select({ id: users.id })
        .from(users)
        .orderBy(asc(users.createdAt), asc(usersMade))
        .limit(1)
      const operator = or(eq(users.id, first), listed.length ? inArray(users.name, listed) : undefined)
      // Only rows whose right changes are written: a start that changes nothing writes nothing.
      await tx
        .update(users)
        .set({ isAdmin: sql`coalesce(${operator}, false)` })
        .where(sql`${users.isAdmin} IS DISTINCT FROM coalesce(${operator}, false)`)
      const present = listed.length
        ? new Set(
            (await tx.select({ name: users.name }).from(users).where(inArray(users.name, listed))).map(
              (r) => r.name,
            ),
          )
        : new Set<string>()
      // Every coordinator reads its kept tokens' users again (their rights may have changed).
      this.sessions.drop()
      await tx.execute(sql`SELECT pg_notify(${TOKENS_CHANNEL}, '*')`)
      return { operators: await operatorNames(tx), missing: listed.filter((n) => !present.has(n)) }
    })
  }

  async operators(): Promise<string[]> {
    return await operatorNames(this.db)
  }

  async byName(name: string): Promise<UserRow | undefined> {
    const [u] = await this.db.select().from(users).where(eq(users.name, name))
    return u
  }

  async byId(id: string): Promise<UserRow | undefined> {
    const [u] = await this.db.select().from(users).where(eq(users.id, id))
    return u
  }

  async addToken(hash: string, userId: string, now: number, expiresAt: number): Promise<void> {
    await this.db.insert(tokens).values({ hash, userId, createdAt: now, expiresAt })
  }

  async byToken(hash: string, now: number): Promise<UserRow | undefined> {
    const kept = this.sessions.get(hash, now)
    if (kept) return kept
    const heard = this.hears()
    const read = this.sessions.reading()
    const [row] = await this.db
      .select({ user: users, expiresAt: tokens.expiresAt })
      .from(tokens)
      .innerJoin(users, eq(tokens.userId, users.id))
      .where(and(eq(tokens.hash, hash), gt(tokens.expiresAt, now)))
    if (row && heard) this.sessions.keep(hash, row.user, row.expiresAt, read)
    return row?.user
  }

  async deleteToken(hash: string): Promise<void> {
    this.sessions.drop(hash)
    // The others hear of it once the delete commits (a notification goes with its transaction).
    await this.db.transaction(async (tx) => {
      await tx.delete(tokens).where(eq(tokens.hash, hash))
      await tx.execute(sql`SELECT pg_notify(${TOKENS_CHANNEL}, ${hash})`)
    })
  }
}

async function operatorNames(tx: Tx): Promise<string[]> {
  const rows = await tx
    .select({ name: users.name })
    .from(users)
    .where(eq(users.isAdmin, true))
    .orderBy(asc(users.createdAt), asc(usersMade))
  return rows.map((r) => r.name)
}

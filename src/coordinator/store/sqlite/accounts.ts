import type { Database } from 'bun:sqlite'
import { eq } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { UserRow } from '../../../db/sqlite/schema'
import { inviteHash, signupRefusal } from '../invite-rules'
import { Sessions } from '../sessions'
import { grantMovement } from '../ledger-rules'
import { userExists } from '../account-rules'
import type { AccountsRepo, Admission } from '../types'
import { consumeInvite, createInvite } from './invites'
import type { Hot } from './prepared'
import { type Db, openAccounts, transfer } from './ledger'

const { users, tokens } = schema

/** Whether a users row is an operator now: the first account, or one named by `--admin` (?1, JSON). */
const OPERATOR = `id = (SELECT id FROM users ORDER BY created_at, rowid LIMIT 1)
  OR name IN (SELECT value FROM json_each(?1))`

/** Accounts, operators and tokens on SQLite. */
export class SqliteAccounts implements AccountsRepo {
  constructor(
    private readonly db: Db,
    private readonly sqlite: Database,
    private readonly hot: Hot,
  ) {}

  /**
   * Exact, with no lifetime: this process is the file's only writer, and every change a row can
   * see (a token revoked, an operator named) goes through the methods below, which drop it.
   */
  private readonly sessions = new Sessions()

  async create(row: Omit<UserRow, 'isAdmin' | 'inviteId'>, admission: Admission): Promise<UserRow> {
    return this.db.transaction((tx) => {
      const taken = tx.select({ id: users.id }).from(users).where(eq(users.name, row.name)).get()
      if (taken) throw userExists(row.name)
      const first = !tx.select({ id: users.id }).from(users).limit(1).get()
      const refused = signupRefusal(admission.signup, first, admission.inviteHash !== undefined)
      if (refused) throw refused
      const invite =
        first || admission.inviteHash === undefined
          ? undefined
          : consumeInvite(tx, admission.inviteHash, row.createdAt)
      const user: UserRow = { ...row, isAdmin: first, inviteId: invite?.id ?? null }
      tx.insert(users).values(user).run()
      const pending = first ? admission.firstInvite : undefined
      // The token printed at start keeps admitting the next machines, as an invite of the operator.
      if (pending) {
        const used = admission.inviteHash === inviteHash(pending.code) ? 1 : 0
        const made = createInvite(tx, user.id, { ...pending, now: row.createdAt, used })
        if (used) tx.update(users).set({ inviteId: made.id }).where(eq(users.id, user.id)).run()
      }
      openAccounts(tx, user.id)
      const memo = invite ? `welcome grant (invite ${invite.id})` : 'welcome grant'
      const amount = invite ? invite.grantMc : admission.grant
      transfer(tx, grantMovement(user.id, `grant:${user.id}:signup`, amount, memo, row.createdAt))
      return user
    })
  }

  async exist(): Promise<boolean> {
    return this.db.select({ id: users.id }).from(users).limit(1).get() !== undefined
  }

  async setOperators(admins: readonly string[]): Promise<{ operators: string[]; missing: string[] }> {
    // Users' rows change (is_admin): the kept tokens are read again.
    this.sessions.drop()
    return this.sqlite.transaction(() => {
      const listed = JSON.stringify([...new Set(admins)])
      // Only rows whose right changes are written: a start that changes nothing writes nothing, so
      // a coordinator whose disk is full still starts.
      this.sqlite.run(`UPDATE users SET is_admin = (${OPERATOR}) WHERE is_admin IS NOT (${OPERATOR})`, [
        listed,
      ])
      const missing = this.sqlite
        .query<{ name: string }, [string]>(
          'SELECT value AS name FROM json_each(?1) WHERE value NOT IN (SELECT name FROM users)',
        )
        .all(listed)
        .map((r) => r.name)
      return { operators: this.operatorNames(), missing }
    })()
  }

  async operators(): Promise<string[]> {
    return this.operatorNames()
  }

  private operatorNames(): string[] {
    return this.sqlite
      .query<{ name: string }, []>('SELECT name FROM users WHERE is_admin = 1 ORDER BY created_at, rowid')
      .all()
      .map((r) => r.name)
  }

  async byName(name: string): Promise<UserRow | undefined> {
    return this.db.select().from(users).where(eq(users.name, name)).get()
  }

  async byId(id: string): Promise<UserRow | undefined> {
    return this.db.select().from(users).where(eq(users.id, id)).get()
  }

  async addToken(hash: string, userId: string, now: number, expiresAt: number): Promise<void> {
    this.db.insert(tokens).values({ hash, userId, createdAt: now, expiresAt }).run()
  }

  async byToken(hash: string, now: number): Promise<UserRow | undefined> {
    const kept = this.sessions.get(hash, now)
    if (kept) return kept
    const read = this.sessions.reading()
    const found = this.hot.userByToken.get({ hash, now })
    if (!found) return undefined
    this.sessions.keep(hash, found.user, found.expiresAt, read)
    return { ...found.user }
  }

  async deleteToken(hash: string): Promise<void> {
    this.sessions.drop(hash)
    this.db.delete(tokens).where(eq(tokens.hash, hash)).run()
  }
}

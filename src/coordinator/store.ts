import { Database } from 'bun:sqlite'
import { and, eq, gt } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { migrate } from '../db/sqlite/migrate'
import * as schema from '../db/sqlite/schema'
import type { UserRow, WorkerRow } from '../db/sqlite/schema'
import { GridError } from '../errors'
import { privateDir, privateFile } from './data-dir'
import type { InviteView, NewInvite, SignupMode } from '../protocol/api'
import * as invites from './invites'
import { signupRefusal } from './invites'
import * as ledger from './ledger'
import { LeaseStore } from './lease-store'

export type { Ending, NewJob, OutputChunk } from './queue-store'

/** How a new account is admitted: the coordinator's sign-up mode and grant, and the invite given. */
export interface Admission {
  signup: SignupMode
  /** Millicredits for an account admitted without an invite (the first, or by open sign-up). */
  grant: number
  /** SHA-256 of the invite code given, if any; its grant replaces `grant`. */
  inviteHash?: string | undefined
  /** The invite of `gridx serve`'s join token when no account existed: the first account makes it. */
  firstInvite?: invites.PendingInvite | undefined
}

const { users, tokens, workers, uploads } = schema

/** Whether a users row is an operator now: the first account, or one named by `--admin` (?1, JSON). */
const OPERATOR = `id = (SELECT id FROM users ORDER BY created_at, rowid LIMIT 1)
  OR name IN (SELECT value FROM json_each(?1))`

function open(path: string): { sqlite: Database; db: ReturnType<typeof drizzle<typeof schema>> } {
  if (path !== ':memory:') {
    // The server tightens an existing data directory; a new one is made private here.
    if (!existsSync(dirname(path))) privateDir(dirname(path))
    // SQLite gives the -wal and -shm files the database file's mode: made 0600 first, all three are.
    privateFile(path)
  }
  const sqlite = new Database(path, { create: true, strict: true })
  sqlite.run('PRAGMA journal_mode = WAL')
  sqlite.run('PRAGMA synchronous = NORMAL')
  sqlite.run('PRAGMA foreign_keys = ON')
  sqlite.run('PRAGMA busy_timeout = 5000')
  migrate(sqlite)
  return { sqlite, db: drizzle(sqlite, { schema }) }
}

/**
 * The coordinator's persistence (SQLite through drizzle): accounts, tokens, workers and
 * credits here; the job queue and leases in the classes it extends. Every method is one
 * atomic step.
 */
export class Store extends LeaseStore {
  private readonly sqlite: Database

  constructor(path: string) {
    const { sqlite, db } = open(path)
    super(db)
    this.sqlite = sqlite
  }

  /** Closes the database file. */
  close(): void {
    this.sqlite.close()
  }

  /**
   * Creates an account with its ledger accounts and starting grant, if the sign-up mode admits it:
   * the first account always (it is the operator); later ones by the mode, and with an invite
   * that one use of is taken, and whose grant they get, in this same transaction.
   */
  createUser(row: Omit<UserRow, 'isAdmin' | 'inviteId'>, admission: Admission): UserRow {
    return this.db.transaction((tx) => {
      const taken = tx.select({ id: users.id }).from(users).where(eq(users.name, row.name)).get()
      if (taken) {
        throw new GridError('user_exists', `user '${row.name}' already exists: log in instead`, {
          status: 409,
        })
      }
      const first = !tx.select({ id: users.id }).from(users).limit(1).get()
      const refused = signupRefusal(admission.signup, first, admission.inviteHash !== undefined)
      if (refused) throw refused
      const invite =
        first || admission.inviteHash === undefined
          ? undefined
          : invites.consumeInvite(tx, admission.inviteHash, row.createdAt)
      const user: UserRow = { ...row, isAdmin: first, inviteId: invite?.id ?? null }
      tx.insert(users).values(user).run()
      const pending = first ? admission.firstInvite : undefined
      // The token printed at start keeps admitting the next machines, as an invite of the operator.
      if (pending) {
        const used = admission.inviteHash === invites.inviteHash(pending.code) ? 1 : 0
        const made = invites.createInvite(tx, user.id, { ...pending, now: row.createdAt, used })
        if (used) tx.update(users).set({ inviteId: made.id }).where(eq(users.id, user.id)).run()
      }
      ledger.openAccounts(tx, user.id)
      ledger.transfer(tx, {
        id: `grant:${user.id}:signup`,
        kind: 'grant',
        from: ledger.MINT,
        to: ledger.userAccount(user.id),
        amount: invite ? invite.grantMc : admission.grant,
        jobId: null,
        memo: invite ? `welcome grant (invite ${invite.id})` : 'welcome grant',
        at: row.createdAt,
      })
      return user
    })
  }

  /** True once any account exists (the first one is the operator and registers freely). */
  hasUsers(): boolean {
    return this.db.select({ id: users.id }).from(users).limit(1).get() !== undefined
  }

  /**
   * Makes the operators exactly the first account plus the named accounts that exist now; run at
   * every start, so a name dropped from `--admin` loses the right, and one registered later gets
   * it only at a start that names it. Returns the operators and the names with no account.
   */
  setOperators(admins: readonly string[]): { operators: string[]; missing: string[] } {
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
      return { operators: this.operators(), missing }
    })()
  }

  /** The names of the operators, oldest account first. */
  operators(): string[] {
    return this.sqlite
      .query<{ name: string }, []>('SELECT name FROM users WHERE is_admin = 1 ORDER BY created_at, rowid')
      .all()
      .map((r) => r.name)
  }

  /** Stores a new invite made by an operator; the code is returned once and only its hash kept. */
  createInvite(byUserId: string, opts: Parameters<typeof invites.createInvite>[2]): NewInvite {
    return this.db.transaction((tx) => invites.createInvite(tx, byUserId, opts))
  }

  /** Throws the 403 that says why an invite code cannot admit anyone now, if it cannot. */
  checkInvite(hash: string, now: number): void {
    invites.checkInvite(this.db, hash, now)
  }

  /** Invites, newest first, with who made and who used each. */
  invites(now: number): InviteView[] {
    return this.db.transaction((tx) => invites.listInvites(tx, now))
  }

  /** Revokes an invite (404 when there is none with this id). */
  revokeInvite(id: string, now: number): InviteView {
    return this.db.transaction((tx) => invites.revokeInvite(tx, id, now))
  }

  /** Records that a user uploaded an archive (uploading the same one again renews it). */
  recordUpload(sha256: string, ownerId: string, bytes: number, files: number, at: number): void {
    this.db
      .insert(uploads)
      .values({ sha256, ownerId, bytes, files, createdAt: at })
      .onConflictDoUpdate({ target: [uploads.sha256, uploads.ownerId], set: { createdAt: at } })
      .run()
  }

  /**
   * Forgets uploads made before `cutoff`, and returns the digests of every archive still needed:
   * recent uploads, the inputs and staged outputs of jobs not yet ended, and the outputs of jobs
   * that ended at or after `cutoff`. One transaction, so a job submitted meanwhile is counted.
   */
  filesToKeep(cutoff: number): Set<string> {
    return this.sqlite.transaction(() => {
      this.sqlite.run('DELETE FROM uploads WHERE created_at < ?', [cutoff])
      const rows = this.sqlite
        .query<{ sha256: string | null }, [number]>(
          `SELECT sha256 FROM uploads
           UNION SELECT inputs_sha256 FROM jobs WHERE state IN ('queued', 'assigned', 'running')
           UNION SELECT a.outputs_sha256 FROM attempts a JOIN jobs j ON j.id = a.job_id
             WHERE j.state IN ('queued', 'assigned', 'running')
           UNION SELECT outputs_sha256 FROM jobs WHERE finished_at >= ?1`,
        )
        .all(cutoff)
      return new Set(rows.flatMap((r) => (r.sha256 ? [r.sha256] : [])))
    })()
  }

  /**
   * The archives kept on a user's behalf, by digest with their size (what their storage quota
   * counts): uploads made at or after `cutoff`, the inputs and staged /out files of their jobs
   * not yet ended, and the /out files of their jobs that ended at or after `cutoff` — the same
   * rules as `filesToKeep`. An archive is counted once however many times it is named.
   */
  keptArchives(ownerId: string, cutoff: number): Map<string, number> {
    const rows = this.sqlite
      .query<{ sha256: string; bytes: number }, [string, number]>(
        `SELECT sha256, MAX(bytes) AS bytes FROM (
           SELECT sha256, bytes FROM uploads WHERE owner_id = ?1 AND created_at >= ?2
           UNION ALL SELECT inputs_sha256, COALESCE(inputs_bytes, 0) FROM jobs
             WHERE owner_id = ?1 AND state IN ('queued', 'assigned', 'running') AND inputs_sha256 IS NOT NULL
           UNION ALL SELECT a.outputs_sha256, COALESCE(a.outputs_bytes, 0) FROM attempts a
             JOIN jobs j ON j.id = a.job_id
             WHERE j.owner_id = ?1 AND a.outputs_sha256 IS NOT NULL
               AND (j.state IN ('queued', 'assigned', 'running')
                    OR (j.finished_at >= ?2 AND a.outputs_sha256 = j.outputs_sha256))
         ) GROUP BY sha256`,
      )
      .all(ownerId, cutoff)
    return new Map(rows.map((r) => [r.sha256, r.bytes]))
  }

  /** A user's upload by digest: jobs may only name archives their owner uploaded. */
  uploadOf(sha256: string, ownerId: string): { bytes: number; files: number } | undefined {
    return this.db
      .select({ bytes: uploads.bytes, files: uploads.files })
      .from(uploads)
      .where(and(eq(uploads.sha256, sha256), eq(uploads.ownerId, ownerId)))
      .get()
  }

  /** Mints credits to a user (an operator's grant). */
  grant(userName: string, amount: number, memo: string, at: number): void {
    this.db.transaction((tx) => {
      const user = tx.select().from(users).where(eq(users.name, userName)).get()
      if (!user) throw new GridError('user_not_found', `no user '${userName}'`, { status: 404 })
      ledger.transfer(tx, {
        id: `grant:${user.id}:${crypto.randomUUID()}`,
        kind: 'grant',
        from: ledger.MINT,
        to: ledger.userAccount(user.id),
        amount,
        jobId: null,
        memo,
        at,
      })
    })
  }

  /** A user's balance, escrow and newest history. */
  credits(userId: string, limit: number, beforeSeq?: number) {
    return this.db.transaction((tx) => ({
      ...ledger.balances(tx, userId),
      history: ledger.history(tx, userId, limit, beforeSeq),
    }))
  }

  /** The ledger invariant, computed in one consistent read. */
  audit(): ledger.Audit {
    return this.db.transaction((tx) => ledger.audit(tx))
  }

  /** The account with this name, if any. */
  userByName(name: string): UserRow | undefined {
    return this.db.select().from(users).where(eq(users.name, name)).get()
  }

  /** Stores a token hash for a user. */
  addToken(hash: string, userId: string, now: number, expiresAt: number): void {
    this.db.insert(tokens).values({ hash, userId, createdAt: now, expiresAt }).run()
  }

  /** The user a live token belongs to. */
  userByToken(hash: string, now: number): UserRow | undefined {
    const row = this.db
      .select({ user: users })
      .from(tokens)
      .innerJoin(users, eq(tokens.userId, users.id))
      .where(and(eq(tokens.hash, hash), gt(tokens.expiresAt, now)))
      .get()
    return row?.user
  }

  /** Revokes a token. */
  deleteToken(hash: string): void {
    this.db.delete(tokens).where(eq(tokens.hash, hash)).run()
  }

  /** Records a worker connection; a worker id belongs to the account that first used it. */
  upsertWorker(
    id: string,
    ownerId: string,
    name: string,
    now: number,
    publicKey: string | null = null,
  ): WorkerRow {
    const existing = this.db.select().from(workers).where(eq(workers.id, id)).get()
    if (existing && existing.ownerId !== ownerId) {
      throw new GridError('worker_owned', `worker id ${id} belongs to another account`, { status: 403 })
    }
    if (existing?.publicKey && publicKey !== existing.publicKey) {
      throw new GridError(
        'worker_key_mismatch',
        `worker ${id} connected with a different signing key than the one pinned at its first connection: if its $GRIDX_HOME was reset, start it under a new --name`,
        { status: 403 },
      )
    }
    if (existing) {
      const key = existing.publicKey ?? publicKey
      this.db.update(workers).set({ name, lastSeenAt: now, publicKey: key }).where(eq(workers.id, id)).run()
      return { ...existing, name, lastSeenAt: now, publicKey: key }
    }
    const row = { id, ownerId, name, publicKey, firstSeenAt: now, lastSeenAt: now }
    this.db.insert(workers).values(row).run()
    return row
  }

  /** A worker as stored (its owner and pinned key). */
  worker(id: string): WorkerRow | undefined {
    return this.db.select().from(workers).where(eq(workers.id, id)).get()
  }
}

import { createHash } from 'node:crypto'
import type { UserRow } from '../db/schema'
import { GridError } from '../errors'
import type { Credentials, Session } from '../protocol/api'
import { newId } from '../protocol/ids'
import type { Clock, Settings } from './settings'
import type { Store } from './store'

/** Tokens carry 256 random bits; only their SHA-256 is stored. */
const TOKEN_BYTES = 32

/** Hash used to look a token up without storing it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Accounts and login tokens. */
export class Auth {
  // Verifying against a real hash for unknown users keeps login timing the same either way.
  // Made on the first login, not at start-up.
  private decoy: Promise<string> | undefined

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: Settings,
  ) {}

  /** Creates an account with an argon2id password hash. */
  async register(creds: Credentials): Promise<UserRow> {
    if (this.store.userByName(creds.user)) {
      throw new GridError('user_exists', `user '${creds.user}' already exists: log in instead`, {
        status: 409,
      })
    }
    const passwordHash = await Bun.password.hash(creds.password, { algorithm: 'argon2id' })
    return this.store.createUser(
      { id: newId(), name: creds.user, passwordHash, createdAt: this.clock.now() },
      { grant: this.settings.signupGrantMc, admins: this.settings.admins },
    )
  }

  /** Checks a password and issues a fresh token. */
  async login(creds: Credentials): Promise<Session> {
    const user = this.store.userByName(creds.user)
    const ok = await Bun.password.verify(
      creds.password,
      user?.passwordHash ??
        (await (this.decoy ??= Bun.password.hash('gridx-decoy-password', { algorithm: 'argon2id' }))),
    )
    if (!user || !ok) {
      throw new GridError('bad_credentials', `wrong user name or password for '${creds.user}'`, {
        status: 401,
      })
    }
    const token = `gx_${Buffer.from(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES))).toString('base64url')}`
    const now = this.clock.now()
    const expiresAt = now + this.settings.tokenTtlMs
    this.store.addToken(tokenHash(token), user.id, now, expiresAt)
    return { user: user.name, token, expiresAt: new Date(expiresAt).toISOString() }
  }

  /** The user behind a bearer token, or a 401 saying how to get a new one. */
  authenticate(header: string | null | undefined): UserRow {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
    if (!token) {
      throw new GridError('unauthorized', "not logged in: run 'gridx login' first", { status: 401 })
    }
    const user = this.store.userByToken(tokenHash(token), this.clock.now())
    if (!user) {
      throw new GridError('unauthorized', "your login has expired or was revoked: run 'gridx login' again", {
        status: 401,
      })
    }
    return user
  }

  /** Revokes a token. */
  logout(header: string | null | undefined): void {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
    if (token) this.store.deleteToken(tokenHash(token))
  }
}

import { createHash } from 'node:crypto'
import { GridError } from '../errors'
import type { Credentials, RegisterRequest, Session } from '../protocol/api'
import { newId } from '../protocol/ids'
import { inviteHash, signupRefusal } from './store/invite-rules'
import type { Clock, Settings } from './settings'
import { userExists } from './store/account-rules'
import type { Store, UserRow } from './store'
import { Throttle } from './throttle'

/** Tokens carry 256 random bits; only their SHA-256 is stored. */
const TOKEN_BYTES = 32

/** Hash used to look a token up without storing it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Throws a 403 unless the user is an operator. */
export function requireOperator(user: UserRow): void {
  if (!user.isAdmin) {
    throw new GridError(
      'forbidden',
      `'${user.name}' is not an operator: only the first account, and those named with 'gridx serve --admin' when it last started, may do this`,
      { status: 403 },
    )
  }
}

/** Accounts and login tokens, admission by sign-up mode and invite, and throttled guessing. */
export class Auth {
  // Verifying against a real hash for unknown users keeps login timing the same either way.
  // Made on the first login, not at start-up.
  private decoy: Promise<string> | undefined
  private readonly throttle: Throttle
  /** True while today's operators are decided but could not be written (the disk was full). */
  private operatorsPending = false

  /**
   * `diskFull` is asked about a start-up write that failed: when it says the disk is full, the
   * operators are written later (`retryOperators`) instead of the start failing.
   */
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly log: (line: string) => void = () => undefined,
    private readonly diskFull: (err: unknown) => boolean = () => false,
  ) {
    this.throttle = new Throttle(clock, settings.throttle)
  }

  /** Decides the operators: exactly the first account and today's --admin list, at every start. */
  async start(): Promise<this> {
    this.operatorsPending = !(await this.decideOperators(true))
    return this
  }

  /** Writes the operators a full disk kept from being written at start; true once they are. */
  async retryOperators(): Promise<boolean> {
    if (this.operatorsPending) this.operatorsPending = !(await this.decideOperators(false))
    return !this.operatorsPending
  }

  private async decideOperators(starting: boolean): Promise<boolean> {
    let decided: { operators: string[]; missing: string[] }
    try {
      decided = await this.store.accounts.setOperators(this.settings.admins)
    } catch (err) {
      if (!this.diskFull(err)) throw err
      if (starting)
        this.log(
          `could not record the operators named by --admin: the disk is full; until space is freed the operators stay as recorded at the last start (${(await this.store.accounts.operators()).join(', ') || 'none'}), then they are written at once`,
        )
      return false
    }
    const { operators, missing } = decided
    for (const name of missing) this.log(`--admin ${name}: no such account; create it, then restart`)
    this.log(
      operators.length
        ? `operators: ${operators.join(', ')}`
        : 'operators: none yet; the first account registered will be the operator',
    )
    return true
  }

  /**
   * Creates an account with an argon2id password hash, if the sign-up mode admits it. Refusals by
   * mode cost nothing; attempts that go on (and may create an account) are throttled per address.
   */
  async register(req: RegisterRequest, address?: string): Promise<UserRow> {
    const { signup, signupGrantMc } = this.settings
    const first = !(await this.store.accounts.exist())
    const refused = signupRefusal(signup, first, req.invite !== undefined)
    if (refused) throw refused
    this.throttle.beginSignup(address)
    const hash = req.invite === undefined ? undefined : inviteHash(req.invite)
    if (hash !== undefined && !first) await this.store.invites.check(hash, this.clock.now())
    if (await this.store.accounts.byName(req.user)) throw userExists(req.user)
    const passwordHash = await Bun.password.hash(req.password, { algorithm: 'argon2id' })
    // The store decides again inside its transaction: another sign-up may have won meanwhile.
    return await this.store.accounts.create(
      { id: newId(), name: req.user, passwordHash, createdAt: this.clock.now() },
      { signup, grant: signupGrantMc, inviteHash: hash, firstInvite: this.settings.firstInvite },
    )
  }

  /** Checks a password and issues a fresh token; guessing is slowed per address and per account. */
  async login(creds: Credentials, address?: string): Promise<Session> {
    this.throttle.beginLogin(address, creds.user)
    const user = await this.store.accounts.byName(creds.user)
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
    this.throttle.loginSucceeded(address, creds.user)
    const token = `gx_${Buffer.from(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES))).toString('base64url')}`
    const now = this.clock.now()
    const expiresAt = now + this.settings.tokenTtlMs
    await this.store.accounts.addToken(tokenHash(token), user.id, now, expiresAt)
    return { user: user.name, token, expiresAt: new Date(expiresAt).toISOString() }
  }

  /** The user behind a bearer token, or a 401 saying how to get a new one. */
  async authenticate(header: string | null | undefined): Promise<UserRow> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
    if (!token) {
      throw new GridError('unauthorized', "not logged in: run 'gridx login' first", { status: 401 })
    }
    const user = await this.store.accounts.byToken(tokenHash(token), this.clock.now())
    if (!user) {
      throw new GridError('unauthorized', "your login has expired or was revoked: run 'gridx login' again", {
        status: 401,
      })
    }
    return user
  }

  /** Revokes a token. */
  async logout(header: string | null | undefined): Promise<void> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
    if (token) await this.store.accounts.deleteToken(tokenHash(token))
  }
}

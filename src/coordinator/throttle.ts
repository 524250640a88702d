import { GridError } from '../errors'
import type { Clock } from './settings'

/** How hard password guessing and mass sign-up are slowed: bursts, then one more per interval. */
export interface ThrottleLimits {
  /** Logins an address may get wrong in a row, and how often it earns one more try. */
  addressBurst: number
  addressEveryMs: number
  /** Logins one account may get wrong in a row (from anywhere), and how often it earns one more. */
  accountBurst: number
  accountEveryMs: number
  /** Sign-ups an address may attempt in a row, and how often it earns one more. */
  registerBurst: number
  registerEveryMs: number
  /** Most addresses, accounts and known (account, address) pairs remembered each. */
  maxEntries: number
  /** How long an address an account logged in from stays exempt from that account's budget. */
  knownMs: number
}

/**
 * A guesser at one address gets 5 tries, then 4 a minute; the account budget (10, then 6 a
 * minute) is looser than that, so one address never holds up the account's owner elsewhere.
 */
export const DEFAULT_THROTTLE: ThrottleLimits = {
  addressBurst: 5,
  addressEveryMs: 15_000,
  accountBurst: 10,
  accountEveryMs: 10_000,
  registerBurst: 10,
  registerEveryMs: 60_000,
  maxEntries: 10_000,
  knownMs: 30 * 86_400_000,
}

/** A 429: too many attempts, with the seconds to wait (sent as `Retry-After`). */
export class TooManyAttempts extends GridError {
  constructor(
    override readonly retryAfterS: number,
    what: string,
    now: number,
  ) {
    const at = new Date(now + retryAfterS * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
    super('too_many_attempts', `${what}: wait ${retryAfterS} s and try again (after ${at})`, {
      status: 429,
      retryable: true,
      retryAfterS,
    })
  }
}

/**
 * The part of an address that names one client: IPv4 as is (also when mapped into IPv6), IPv6 by
 * its /64, since one host usually holds a whole /64 and could otherwise take a fresh budget per address.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const [head, tail] = address.split('%')[0]!.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = [...left, ...Array<string>(Math.max(8 - left.length - right.length, 0)).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/**
 * Token buckets by key. Only buckets short of full are kept (a full one is the same as none), at
 * most `max`: past that the least recently used is forgotten, so no one can grow the map at will.
 */
class Buckets {
  private readonly map = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly burst: number,
    private readonly everyMs: number,
    private readonly max: number,
  ) {}

  private level(key: string, now: number): number {
    const b = this.map.get(key)
    if (!b) return this.burst
    return Math.min(this.burst, b.tokens + (now - b.at) / this.everyMs)
  }

  private store(key: string, tokens: number, now: number): void {
    this.map.delete(key)
    if (tokens >= this.burst) return
    this.map.set(key, { tokens, at: now })
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!)
  }

  /** Takes one token and returns 0, or returns the milliseconds until one is there (taking none). */
  take(key: string, now: number): number {
    const tokens = this.level(key, now)
    if (tokens < 1) return Math.ceil((1 - tokens) * this.everyMs)
    this.store(key, tokens - 1, now)
    return 0
  }

  /** Gives back a token taken for an attempt that turned out fine. */
  refund(key: string, now: number): void {
    this.store(key, this.level(key, now) + 1, now)
  }

  /** Fills the bucket again. */
  reset(key: string): void {
    this.map.delete(key)
  }

  /** Keys remembered (for tests of the bound). */
  get size(): number {
    return this.map.size
  }
}

/**
 * Slows password guessing per client address and per account, and sign-ups per address. Every
 * attempt is paid for before the password is checked, so concurrent guesses cannot overdraw.
 * In memory: a restart forgets it, which costs a guesser a restart per burst.
 */
export class Throttle {
  private readonly addresses: Buckets
  private readonly accounts: Buckets
  private readonly signups: Buckets
  /** (account, address) pairs that logged in, until when they stay exempt from the account budget. */
  private readonly known = new Map<string, number>()

  constructor(
    private readonly clock: Clock,
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
  ) {
    this.addresses = new Buckets(limits.addressBurst, limits.addressEveryMs, limits.maxEntries)
    this.accounts = new Buckets(limits.accountBurst, limits.accountEveryMs, limits.maxEntries)
    this.signups = new Buckets(limits.registerBurst, limits.registerEveryMs, limits.maxEntries)
  }

  private isKnown(pair: string, now: number): boolean {
    const until = this.known.get(pair)
    if (until === undefined) return false
    if (until > now) return true
    this.known.delete(pair)
    return false
  }

  /**
   * Pays for one login attempt, or throws a 429 saying when to try again. The account's budget is
   * not charged from an address it logged in from before: a guesser elsewhere cannot lock its owner out.
   */
  beginLogin(address: string | undefined, account: string): void {
    const now = this.clock.now()
    const client = clientKey(address)
    const byAddress = this.addresses.take(client, now)
    if (byAddress > 0) {
      throw new TooManyAttempts(Math.ceil(byAddress / 1000), 'too many failed logins from your address', now)
    }
    if (this.isKnown(`${account}\n${client}`, now)) return
    const byAccount = this.accounts.take(account, now)
    if (byAccount > 0) {
      this.addresses.refund(client, now)
      throw new TooManyAttempts(
        Math.ceil(byAccount / 1000),
        `too many failed logins for '${account}' from other addresses`,
        now,
      )
    }
  }

  /** A login succeeded: its attempt is given back, the account's budget restored, the address remembered. */
  loginSucceeded(address: string | undefined, account: string): void {
    const now = this.clock.now()
    const client = clientKey(address)
    this.addresses.refund(client, now)
    this.accounts.reset(account)
    const pair = `${account}\n${client}`
    this.known.delete(pair)
    this.known.set(pair, now + this.limits.knownMs)
    if (this.known.size > this.limits.maxEntries) this.known.delete(this.known.keys().next().value!)
  }

  /** Pays for one sign-up attempt from an address, or throws a 429 saying when to try again. */
  beginSignup(address: string | undefined): void {
    const now = this.clock.now()
    const wait = this.signups.take(clientKey(address), now)
    if (wait > 0)
      throw new TooManyAttempts(Math.ceil(wait / 1000), 'too many sign-ups from your address', now)
  }

  /** How many entries each map holds (to check that they stay bounded). */
  sizes(): { addresses: number; accounts: number; signups: number; known: number } {
    return {
      addresses: this.addresses.size,
      accounts: this.accounts.size,
      signups: this.signups.size,
      known: this.known.size,
    }
  }
}

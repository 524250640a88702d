import type { UserRow } from '../../db/sqlite/schema'

/** Login tokens kept in memory at most (each a user row): more than the busiest grid holds. */
const MAX_SESSIONS = 10_000

/**
 * Users of live tokens as last read, with their expiry: every API request checks one, and the
 * read was a good part of a request (a join of two tables; on PostgreSQL a round trip, 0.3 ms of
 * the coordinator's CPU a job in the dispatch bench). The store drops what each change of a token
 * or a user's rights touches. Where other processes change the rows too (PostgreSQL), they tell
 * of it, and `ttlMs` bounds how long an entry lives should that word be missed.
 */
export class Sessions {
  private readonly kept = new Map<string, { user: UserRow; expiresAt: number; readAt: number }>()
  /** Counts drops: a read begun before one is not kept (it may have read what was dropped). */
  private drops = 0

  constructor(private readonly ttlMs = Infinity) {}

  /** The user of token `hash` if kept and unexpired at `now` (a copy: callers may change it). */
  get(hash: string, now: number): UserRow | undefined {
    const kept = this.kept.get(hash)
    if (!kept) return undefined
    if (kept.expiresAt > now && performance.now() - kept.readAt < this.ttlMs) return { ...kept.user }
    this.kept.delete(hash)
    return undefined
  }

  /** Call before reading a token's row; pass what it returns to `keep`. */
  reading(): { drops: number; at: number } {
    return { drops: this.drops, at: performance.now() }
  }

  /** Keeps what a read begun at `read` found, unless something was dropped meanwhile. */
  keep(hash: string, user: UserRow, expiresAt: number, read: { drops: number; at: number }): void {
    if (read.drops !== this.drops) return
    if (this.kept.size >= MAX_SESSIONS) this.kept.delete(this.kept.keys().next().value!)
    this.kept.set(hash, { user: { ...user }, expiresAt, readAt: read.at })
  }

  /** Forgets token `hash` (revoked), or every token when undefined (users' rights changed). */
  drop(hash?: string): void {
    this.drops++
    if (hash === undefined) this.kept.clear()
    else this.kept.delete(hash)
  }
}

import type { SocketBudget } from '../protocol/worker-limits'

/** A token bucket: `perSecond` tokens a second, never more than `burst` saved up; starts full. */
export class TokenBucket {
  private tokens: number
  private at: number

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.at = now
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) when there are not. */
  take(n: number, now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000)
      this.at = now
    }
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }
}

/** What one socket may still send: a bucket of messages and one of bytes. */
export class SocketAllowance {
  private readonly messages: TokenBucket
  private readonly bytes: TokenBucket

  constructor(budget: SocketBudget, now: number) {
    this.messages = new TokenBucket(budget.messagesPerSecond, budget.burstMessages, now)
    this.bytes = new TokenBucket(budget.bytesPerSecond, budget.burstBytes, now)
  }

  /** Counts one message of `size` bytes; false once the socket is past its budget. */
  admit(size: number, now: number): boolean {
    return this.messages.take(1, now) && this.bytes.take(size, now)
  }
}

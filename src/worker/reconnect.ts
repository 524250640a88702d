import { CloseCode } from '../protocol/worker'

/** How one connection attempt ended, and why in words (logged with what happens next). */
export interface AttemptEnd {
  outcome: 'was-ready' | 'unauthorized' | 'failed'
  reason: string
}

/** Each connection attempt gives up after this long without a welcome: shorter than the backoff cap. */
export const CONNECT_TIMEOUT_MS = 10_000

/** Heartbeat intervals without any frame from the coordinator after which the worker calls the connection lost. */
export const SILENT_BEATS = 4

/** Why the coordinator (or the network) closed a socket that was open, in words. */
export function closeReason(code: number, reason: string): string {
  switch (code) {
    case CloseCode.silent:
      return `the coordinator heard no heartbeat from this worker (${code} ${reason || 'no heartbeat'}): a firewall or the network dropped its messages`
    case CloseCode.goingAway:
      return `the coordinator is going away (${code}${reason ? ` ${reason}` : ''}): it is stopping or restarting`
    case CloseCode.replaced:
      return `another connection of this worker replaced it (${code})`
    case CloseCode.overBudget:
      return `the coordinator closed it for sending too much (${code} ${reason})`
    case 1006:
      return 'the connection broke without a goodbye (the network dropped, or the coordinator stopped)'
    default:
      return `the coordinator closed it (${code}${reason ? ` ${reason}` : ''})`
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
}

/**
 * The one log line of a reconnect: what happened, and when the next attempt (numbered) starts;
 * `movingTo`: the next coordinator of the list, when the worker moves on to another.
 */
export function reconnectLine(
  url: string,
  end: AttemptEnd,
  wasOpen: boolean,
  delayMs: number,
  attempt: number,
  movingTo?: string,
): string {
  const next = `${seconds(delayMs)} (attempt ${attempt})`
  const reason = end.reason.replace(/[.\s]+$/, '')
  const failed = /^cannot /.test(reason) ? reason : `cannot connect to ${url}: ${reason}`
  if (movingTo)
    return `${wasOpen ? `connection to ${url} lost: ${reason}` : failed}; moving to ${movingTo} in ${next}`
  if (wasOpen) return `connection to ${url} lost: ${reason}; reconnecting in ${next}`
  return `${failed}; next try in ${next}`
}

/**
 * The reason of an attempt that got no welcome in time; `via` ("via proxy …") when it went
 * through a proxy, which may be the one not answering.
 */
export function timeoutReason(url: string, ms: number, opened: boolean, via?: string): string {
  const target = via ? `${url} ${via}` : url
  return opened
    ? `cannot connect to ${target}: the coordinator did not welcome this worker within ${seconds(ms)} of the hello (overloaded, or not a Grid-X coordinator?)`
    : `cannot connect to ${target}: timed out after ${seconds(ms)}, no answer (a firewall dropping the traffic, or a wrong address?)`
}

/** The reason of a lost connection the worker noticed itself: no frame in `ms`. */
export function silentReason(ms: number): string {
  return `no heartbeat answer for ${seconds(ms)} (a firewall or the network dropped it)`
}

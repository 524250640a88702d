import type { CoordinatorAddress } from '../client/address'
import type { Trust } from '../client/trust'
import { connectionError } from '../client/network'
import type { Route } from '../client/proxy'
import type { GridError } from '../errors'

/** What to do after a worker socket that never opened: retry (with a fresh token), or stop; and why, in words. */
export interface Refusal {
  outcome: 'unauthorized' | 'failed'
  /** Why it did not open, for the reconnect log line. */
  reason: string
  /** Set when waiting cannot help (a certificate problem, a proxy's refusal): the agent stops with it. */
  fatal?: GridError
}

/** Bun's wording of failures that carry no error code, in plain words. */
function plainWords(text: string): string {
  const detail = text.replace(/^WebSocket connection to '[^']*' failed:\s*/, '')
  if (/time(?:d )?out/i.test(detail)) return 'timed out (no answer)'
  if (/^Failed to connect$/i.test(detail)) return 'the connection failed'
  return detail ? `the connection failed (${detail})` : 'the connection failed'
}

/**
 * Explains why the worker socket did not open, from the error Bun's WebSocket reported: a 401
 * asks for a new token, another HTTP status points at a proxy, a network, proxy or TLS failure
 * is named with host, port and fix. Never a raw library message on its own.
 */
export async function explainRefusal(
  failure: unknown,
  opts: { addr: CoordinatorAddress; trust?: Trust | undefined; route: Route },
): Promise<Refusal> {
  const { addr, route } = opts
  const text = failure instanceof Error ? failure.message : typeof failure === 'string' ? failure : ''
  const status = /Expected 101 status code: (\d+)/.exec(text)?.[1]
  if (status === '401') {
    return {
      outcome: 'unauthorized',
      reason: `the coordinator at ${addr.wsUrl} refused the worker's token (HTTP 401); logging in again`,
    }
  }
  if (status !== undefined) {
    return {
      outcome: 'failed',
      reason: `the coordinator at ${addr.wsUrl} answered HTTP ${status} instead of opening the worker socket: if a proxy is in front of it, make it pass WebSocket upgrades on /ws/worker`,
    }
  }
  const coded = failure instanceof Error && 'code' in failure && failure.code !== undefined
  if (!coded && route.kind !== 'proxy') {
    return {
      // An unexplained refusal may be an expired token; ask for a fresh one next time.
      outcome: 'unauthorized',
      reason: `cannot connect to the coordinator at ${addr.wsUrl}: ${plainWords(text)} (is 'gridx serve' running there, and is the port open?)`,
    }
  }
  const err = await connectionError(failure, addr, addr.wsPort, {
    what: "the coordinator's worker socket",
    caPath: opts.trust?.ca?.path,
    pin: opts.trust?.pin?.fingerprint,
    route,
  })
  // A certificate problem or a proxy's refusal does not go away by waiting: stop with it.
  if (!err.retryable) return { outcome: 'failed', reason: err.message, fatal: err }
  return { outcome: 'failed', reason: err.message }
}

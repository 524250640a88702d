import type { CoordinatorAddress } from '../client/address'
import type { Trust } from '../client/trust'
import { connectionError } from '../client/network'
import type { GridError } from '../errors'

/** What to do after a worker socket that never opened: retry (with a fresh token), or stop. */
export interface Refusal {
  outcome: 'unauthorized' | 'failed'
  /** Set when waiting cannot help (a certificate problem): the agent stops with it. */
  fatal?: GridError
}

/**
 * Explains why the worker socket did not open, from the error Bun's WebSocket reported: a 401
 * asks for a new token, another HTTP status points at a proxy, a network or TLS failure is
 * named with host, port and fix.
 */
export async function explainRefusal(
  failure: unknown,
  opts: { addr: CoordinatorAddress; trust?: Trust | undefined; log: (line: string) => void },
): Promise<Refusal> {
  const { addr, log } = opts
  const text = failure instanceof Error ? failure.message : typeof failure === 'string' ? failure : ''
  const status = /Expected 101 status code: (\d+)/.exec(text)?.[1]
  if (status === '401') {
    log(`the coordinator at ${addr.wsUrl} refused the worker's token (HTTP 401); logging in again`)
    return { outcome: 'unauthorized' }
  }
  if (status !== undefined) {
    log(
      `the coordinator at ${addr.wsUrl} answered HTTP ${status} instead of opening the worker socket: if a proxy is in front of it, make it pass WebSocket upgrades on /ws/worker`,
    )
    return { outcome: 'failed' }
  }
  if (!(failure instanceof Error) || !('code' in failure)) {
    log(
      `cannot connect to the coordinator at ${addr.wsUrl}: ${text || 'connection failed'} (is 'gridx serve' running there, and is the port open?)`,
    )
    // An unexplained refusal may be an expired token; ask for a fresh one next time.
    return { outcome: 'unauthorized' }
  }
  const err = await connectionError(failure, addr, addr.wsPort, {
    what: "the coordinator's worker socket",
    caPath: opts.trust?.ca?.path,
    pin: opts.trust?.pin?.fingerprint,
  })
  // A certificate problem does not go away by waiting: stop with it.
  if (!err.retryable) return { outcome: 'failed', fatal: err }
  log(err.message)
  return { outcome: 'failed' }
}

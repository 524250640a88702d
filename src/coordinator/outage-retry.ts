import type { ServerWebSocket } from 'bun'
import { GridError } from '../errors'
import type { DatabaseHealth } from './store'

/** How long a frame waits before it is tried again while the database is away, at first and at most. */
const RETRY_FIRST_MS = 250
const RETRY_MOST_MS = 5_000

/** `ServerWebSocket.readyState` of an open socket. */
const WS_OPEN = 1

/** Whether a failure is the database being away (the store says 503 database_unreachable). */
export const isOutage = (err: unknown) => err instanceof GridError && err.code === 'database_unreachable'

/**
 * Handles one worker frame, and while the database is away tries it again (the socket's later
 * frames wait behind it, in order) until it is back or the socket closes, so no output is lost
 * and the socket stays. A heartbeat is not worth keeping: the next one says the same, newer, so
 * it is dropped quietly (an error frame would have the worker log an error each beat). Returns
 * the failure that is not an outage, for the caller to answer.
 */
export async function untilStored(
  ws: ServerWebSocket<unknown>,
  heartbeat: boolean,
  health: DatabaseHealth,
  handle: () => Promise<void>,
): Promise<unknown> {
  for (let waitMs = RETRY_FIRST_MS; ; waitMs = Math.min(2 * waitMs, RETRY_MOST_MS)) {
    try {
      await handle()
      return undefined
    } catch (err) {
      if (!isOutage(err) || ws.readyState !== WS_OPEN) return err
      if (heartbeat) return undefined
      await backoff(waitMs, health)
    }
  }
}

/**
 * Waits `ms` before a frame is tried again, or less: once any query of this coordinator (a
 * sweep, another socket's frame) found the database back, at once, so a frame waiting out a
 * long backoff does not hold the worker's results (and its next job) behind it.
 */
async function backoff(ms: number, health: DatabaseHealth): Promise<void> {
  const until = Date.now() + ms
  for (let left = ms; left > 0; left = until - Date.now()) {
    await Bun.sleep(Math.min(RETRY_FIRST_MS, left))
    if (health.problem() === undefined) return
  }
}

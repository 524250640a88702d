import { whenBodyRead } from './body-meter'
import type { MiddlewareHandler } from 'hono'
import type { UserRow } from './store'
import { GridError } from '../errors'
import { declaredBody } from './http-limits'
import type { Settings } from './settings'

/** Seconds a client refused for a per-user cap is asked to wait. */
const RETRY_AFTER_S = 5

/** A 429 for a cap on things held open at once, asking to wait a few seconds (Retry-After). */
export class TooManyOpen extends GridError {
  constructor(message: string) {
    super('too_many_requests', message, { status: 429, retryable: true, retryAfterS: RETRY_AFTER_S })
  }
}

/**
 * Counts of things in flight by key (a user, a lease), each up to a limit: what one logged-in member
 * may hold open at once, so that one account cannot use up the coordinator's file descriptors.
 */
export class InFlight {
  private readonly counts = new Map<string, number>()

  /** Takes one of `key`'s `limit` slots, or throws `refuse(open)`; the returned function gives it back once. */
  take(key: string, limit: number, refuse: (open: number) => GridError): () => void {
    const open = this.counts.get(key) ?? 0
    if (open >= limit) throw refuse(open)
    this.counts.set(key, open + 1)
    let held = true
    return () => {
      if (!held) return
      held = false
      const left = (this.counts.get(key) ?? 1) - 1
      if (left > 0) this.counts.set(key, left)
      else this.counts.delete(key)
    }
  }

  /** How many `key` holds now (for tests). */
  open(key: string): number {
    return this.counts.get(key) ?? 0
  }
}

/** Takes one of a user's `maxBodiesPerUser` slots for a request with a body (the API's or a dashboard form's), or throws a 429. */
export function takeBodySlot(settings: Settings, inFlight: InFlight, userId: string): () => void {
  return inFlight.take(
    `user:${userId}`,
    settings.maxBodiesPerUser,
    (open) =>
      new TooManyOpen(
        `you have ${open} requests with bodies (job submissions, uploads) in progress, the most this coordinator allows at once: wait for some to finish and try again`,
      ),
  )
}

/** Matches a worker's /out upload, which is counted per lease instead: a user's many workers upload at once. */
const LEASE_UPLOAD = /^\/api\/leases\/([^/]+)\/([^/]+)\/outputs$/

/**
 * Caps the requests with bodies a logged-in user has in flight (`maxBodiesPerUser`, each up to 8 MiB
 * for a job), after authentication: a worker's /out upload is counted per lease instead (two, so a
 * retry may overlap the upload it replaces), since one account's workers may finish many jobs at once.
 */
export function capBodies(
  settings: Settings,
  inFlight: InFlight,
): MiddlewareHandler<{ Variables: { user: UserRow } }> {
  return async (c, next) => {
    if (!declaredBody(c.req.raw).present) return next()
    const upload = LEASE_UPLOAD.exec(c.req.path)
    const release = upload
      ? inFlight.take(
          `lease:${upload[1]}/${upload[2]}`,
          2,
          (open) =>
            new TooManyOpen(
              `${open} uploads of this lease's /out files are already in progress: wait for them to end`,
            ),
        )
      : takeBodySlot(settings, inFlight, c.get('user').id)
    let released = false
    const once = () => {
      if (released) return
      released = true
      release()
    }
    // A JSON body read whole is no longer in flight, however long its request then waits (a
    // submission waits for its group commit): it stops counting once read.
    whenBodyRead(c.req.raw, once)
    try {
      await next()
    } finally {
      once()
    }
  }
}

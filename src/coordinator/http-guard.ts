import type { Server } from 'bun'
import { describe, GridError } from '../errors'
import { HSTS } from '../tls/profile'
import { bodyTooLarge, deferBody, deferredBodyRead, MeteredBody } from './body-meter'
import { bodyRule, declaredBody } from './http-limits'
import type { Settings } from './settings'
import { clientKey } from './throttle'
import { InFlight, TooManyOpen } from './user-caps'

/** Methods whose bodies the API reads; a body on any other method is refused. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Most bytes of request headers. Bun itself refuses more than `--max-http-header-size` (set to
 * 64 KiB in the compiled binary, see the Makefile) with an empty 431; below that the guard
 * answers in JSON.
 */
export const MAX_HEADER_BYTES = 16 * 1024

/** Where the guard reports what went wrong behind it. */
export interface GuardHooks {
  /** The coordinator log: an unexpected error is written here once, with its request. */
  log(line: string): void
  /** The disk handler's 507 when `err` is a full disk (see disk.ts), else undefined. */
  diskFull(err: unknown): GridError | undefined
  /** Told of every request the guard itself refuses (the log's `refused` line). */
  refused?(req: Request, address: string | undefined, status: number, code: string, message: string): void
}

/** What comes after the guard: the worker-socket upgrade or the API; undefined once upgraded. */
export type Next = (req: Request) => Response | undefined | Promise<Response | undefined>

/** A JSON error answer; `close` ends the connection after it (a body left unread must not be parsed as a request). */
export function refusal(err: unknown): Response {
  const e = err instanceof GridError ? err : new GridError('internal', describe(err), { status: 500 })
  const message = e.status === 500 ? 'internal error; see the coordinator log' : e.message
  const headers: Record<string, string> =
    e.retryAfterS === undefined ? {} : { 'retry-after': String(e.retryAfterS) }
  return Response.json({ error: { code: e.code, message } }, { status: e.status, headers })
}

/** The refusal past the cap on requests not logged in from one client. */
const tooMany = (busy: number) =>
  new TooManyOpen(
    `${busy} requests from your address (or its IPv6 /64) that are not logged in (logins, registrations) are already in progress, the most this coordinator allows at once: wait a few seconds and try again`,
  )

/** The size of a request's headers as sent: each `name: value` line with its CRLF. */
function headerBytes(req: Request): number {
  let n = 0
  req.headers.forEach((value, name) => (n += name.length + value.length + 4))
  return n
}

/**
 * Counted against its address's cap: a request that has not proved who it is and can take a
 * while, i.e. one with a body to /api/auth/* or without a token, and a worker-socket upgrade
 * without a token. Bodiless requests (GET /health) answer at once and are not counted; requests
 * with a token are checked before their body is read, so authenticated workers are never capped.
 */
function unauthenticated(req: Request, path: string, hasBody: boolean): boolean {
  if (path === '/ws/worker') return !req.headers.has('authorization')
  return hasBody && (path.startsWith('/api/auth/') || !req.headers.has('authorization'))
}

/** JSON bodies up to this size with a declared length are read whole by their route (see readSmallBody). */
const SMALL_BODY_BYTES = 64 * 1024

/**
 * Transport limits in front of every route: per-route body sizes and pace (see MeteredBody), a cap
 * on requests in flight per client address that have not logged in, JSON for every refusal, and
 * Strict-Transport-Security over HTTPS.
 */
export class HttpGuard {
  private readonly inFlight = new InFlight()

  constructor(
    private readonly settings: Settings,
    private readonly tls: boolean,
    private readonly on: GuardHooks = { log: () => undefined, diskFull: () => undefined },
  ) {}

  /** Checks a request, hands it on with its body metered, and finishes the answer. */
  async handle(req: Request, server: Server<unknown>, next: Next): Promise<Response | undefined> {
    const body = declaredBody(req)
    let metered: MeteredBody | undefined
    let whole = false
    let release: (() => void) | undefined
    let res: Response | undefined
    const path = new URL(req.url).pathname
    try {
      const headers = headerBytes(req)
      if (headers > MAX_HEADER_BYTES) {
        throw new GridError(
          'headers_too_large',
          `the request headers are ${headers} bytes; this coordinator accepts at most ${MAX_HEADER_BYTES}: send fewer or shorter headers (a proxy adding large cookies?)`,
          { status: 431 },
        )
      }
      if (body.present && !BODY_METHODS.has(req.method)) {
        throw new GridError('bad_request', `${req.method} requests take no body: send it without one`)
      }
      const rule = bodyRule(req.method, path, this.settings)
      // Refused from the announced size, before a byte of the body is read.
      if (body.declared !== undefined && body.declared > rule.maxBytes) throw bodyTooLarge(rule)
      if (unauthenticated(req, path, body.present)) {
        // Keyed like the login throttle: a host holding an IPv6 /64 is one client, not 2^64.
        const client = clientKey(server.requestIP(req)?.address)
        try {
          release = this.inFlight.take(client, this.settings.maxUnauthenticatedPerAddress, tooMany)
        } catch (err) {
          return this.finish(this.refuse(req, server, err), true)
        }
      }
      let forward = req
      if (body.present && req.body) {
        const pace = { floorMs: this.settings.idleTimeoutMs, minRate: this.settings.minBodyRate }
        // The meter paces the body; Bun's idle timer would cut honest slow uploads without a word.
        server.timeout(req, 0)
        if (body.declared !== undefined && body.declared <= SMALL_BODY_BYTES && !rule.flag) {
          // JSON: its route reads it whole, after the token and the caps on bodies in flight.
          deferBody(req, body.declared, pace)
          whole = true
        } else {
          metered = new MeteredBody(req.body, rule, pace)
          forward = new Request(req, { body: metered.stream, duplex: 'half' })
        }
      }
      res = await next(forward)
      if ((metered || whole) && res) this.restoreTimeout(req, server)
    } catch (err) {
      res = this.refuse(req, server, this.explain(err, req.method, path))
    } finally {
      release?.()
    }
    if (res === undefined) return undefined
    const read = whole ? deferredBodyRead(req) : metered?.finished === true
    return this.finish(res, body.present && !read)
  }

  /** The error to answer with: a full disk as the disk handler says; anything unexpected logged once. */
  private explain(err: unknown, method: string, path: string): unknown {
    if (err instanceof GridError && err.status !== 500) return err
    const full = this.on.diskFull(err)
    if (full) return full
    this.on.log(`${method} ${path} failed: ${describe(err)}`)
    return err
  }

  /** The JSON refusal of `err`, told to the `refused` hook. */
  private refuse(req: Request, server: Server<unknown>, err: unknown): Response {
    const res = refusal(err)
    if (this.on.refused) {
      const e = err instanceof GridError ? err : undefined
      const address = server.requestIP(req)?.address
      this.on.refused(req, address, res.status, e?.code ?? 'internal', e?.message ?? describe(err))
    }
    return res
  }

  /** Requests from a client (an address as `clientKey` names it) counted now (for tests and logs). */
  unauthenticatedFrom(address: string): number {
    return this.inFlight.open(address)
  }

  private restoreTimeout(req: Request, server: Server<unknown>): void {
    restoreIdleTimeout(server, req, this.settings.idleTimeoutMs)
  }

  /** HSTS over HTTPS; `close` when part of a body may still be on the wire. */
  private finish(res: Response, close: boolean): Response {
    const extra: Record<string, string> = {}
    if (this.tls) extra['strict-transport-security'] = HSTS
    if (close) extra['connection'] = 'close'
    if (Object.keys(extra).length === 0) return res
    try {
      for (const [k, v] of Object.entries(extra)) res.headers.set(k, v)
      return res
    } catch {
      // Some responses have immutable headers: copy them.
      const copy = new Response(res.body, res)
      for (const [k, v] of Object.entries(extra)) copy.headers.set(k, v)
      return copy
    }
  }
}

/** Gives a request whose idle timeout was lifted (set to 0) the configured one back. */
export function restoreIdleTimeout(server: Server<unknown>, req: Request, idleTimeoutMs: number): void {
  try {
    server.timeout(req, Math.ceil(idleTimeoutMs / 1000))
  } catch {
    // The client is gone; there is no timer left to restore.
  }
}

import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context, MiddlewareHandler } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { GridError } from '../errors'
import { isOwnOrigin } from '../coordinator/origin'
import { admitBody } from './body-admission'
import type { WebDeps, WebEnv } from './env'

/** The dashboard's session cookie: a login token, as the CLI keeps in credentials.json. */
export const SESSION_COOKIE = 'gridx_session'

/**
 * The CSRF token of a session: derived from its login token, which a page of another origin can
 * never read (HttpOnly), so any coordinator of the grid checks it without shared state.
 */
export function csrfOf(token: string): string {
  return createHash('sha256').update(`gridx-csrf:${token}`).digest('base64url')
}

/**
 * Whether the browser is on https, so the dashboard's cookies are `Secure`: under TLS, with an
 * https `--public-url`, or through a proxy that says so (`X-Forwarded-Proto: https`, as the nginx
 * of docs/NETWORK_SETUP.md sends). Anyone can send that header, and it is trusted all the same:
 * it can only add `Secure` (a cookie a plain-http browser then does not keep — it harms only the
 * sender), never take it away, and it is never used to decide what a request may do.
 */
export function secureCookies(c: Context<WebEnv>, deps: WebDeps): boolean {
  return deps.secure || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https'
}

/**
 * Refuses a form post a page of another site sent: its `Origin` (when the browser sends one) must
 * be the `--public-url`'s or name the host the request was sent to, whatever the scheme (a TLS
 * proxy in front: the browser is on https, the coordinator on http). Shared with the worker socket.
 */
export function foreignOrigin(c: Context<WebEnv>, deps: WebDeps): boolean {
  const origin = c.req.header('origin')
  return origin !== undefined && !isOwnOrigin(origin, c.req.header('host') ?? null, deps.publicUrl)
}

/** Sets the session cookie after a login. */
export function startSession(c: Context<WebEnv>, deps: WebDeps, token: string, expiresAt: Date): void {
  setCookie(c, SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: secureCookies(c, deps),
    expires: expiresAt,
  })
}

/** Clears the session cookie (the token itself is revoked by the caller). */
export function endSession(c: Context<WebEnv>, deps: WebDeps): void {
  deleteCookie(c, SESSION_COOKIE, {
    path: '/',
    secure: secureCookies(c, deps),
    httpOnly: true,
    sameSite: 'Strict',
  })
}

/** The session's login token, if the request carries one. */
export function sessionToken(c: Context<WebEnv>): string | undefined {
  const token = getCookie(c, SESSION_COOKIE)
  // Tokens are `gx_` and base64url: anything else is not ours and is not looked up.
  return token && /^gx_[A-Za-z0-9_-]{16,128}$/.test(token) ? token : undefined
}

/**
 * Pages for logged-in users only: without a valid session a page redirects to the login form
 * (an event stream or a form post answers 401). A state change must carry the session's CSRF
 * token (form field `csrf` or header `x-csrf-token`) and come from this origin.
 */
export function requireSession(deps: WebDeps): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const token = sessionToken(c)
    const user = token
      ? await deps.auth.authenticate(`Bearer ${token}`).catch((err: unknown) => {
          if (err instanceof GridError && err.status === 401) return undefined
          throw err
        })
      : undefined
    if (!user || !token) {
      // Logging out of a session that already ended: nothing to revoke, only the cookie to clear.
      if (c.req.method === 'POST' && c.req.path === '/logout') {
        endSession(c, deps)
        return c.redirect('/login', 303)
      }
      if (c.req.method === 'GET' && c.req.header('accept')?.includes('text/html')) {
        const back = new URL(c.req.url)
        return c.redirect(`/login?next=${encodeURIComponent(back.pathname + back.search)}`, 303)
      }
      return c.text('log in first', 401)
    }
    const csrf = csrfOf(token)
    c.set('user', user)
    c.set('csrf', csrf)
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    if (foreignOrigin(c, deps)) return c.text('cross-origin request refused', 403)
    // Counted and reserved before the form is read (the CSRF token is one of its fields).
    const release = await admitBody(c, deps, user)
    try {
      const sent = c.req.header('x-csrf-token') ?? (await formField(c, 'csrf'))
      if (!sent || !same(sent, csrf)) return c.text('this form is stale: reload the page and try again', 403)
      await next()
    } finally {
      release()
    }
  }
}

/** A field of a url-encoded or multipart form body (hono caches the parsed body for the route). */
async function formField(c: Context<WebEnv>, name: string): Promise<string | undefined> {
  const type = c.req.header('content-type') ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data'))
    return undefined
  const value = (await c.req.parseBody())[name]
  return typeof value === 'string' ? value : undefined
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

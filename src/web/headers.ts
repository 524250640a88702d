import type { MiddlewareHandler } from 'hono'

/**
 * What every dashboard answer carries: scripts, styles and connections from this origin only (no
 * inline script at all), never framed, no referrer leaving the origin, pages never cached.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

/** Sets the security headers on a dashboard answer. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next()
    c.header('content-security-policy', CONTENT_SECURITY_POLICY)
    c.header('x-content-type-options', 'nosniff')
    c.header('x-frame-options', 'DENY')
    // Not no-referrer: with it a browser sends `Origin: null` on form posts, which the CSRF check refuses.
    c.header('referrer-policy', 'same-origin')
    c.header('cross-origin-opener-policy', 'same-origin')
    c.header('cross-origin-resource-policy', 'same-origin')
    c.header('permissions-policy', 'camera=(), microphone=(), geolocation=()')
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store')
  }
}

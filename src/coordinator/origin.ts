import { GridError } from '../errors'

/**
 * Refuses a WebSocket upgrade sent by a web page of another site. Browsers always send `Origin`
 * on a WebSocket handshake; the gridx worker sends none. A page is the coordinator's own when its
 * origin is the public URL's, or names the host the request was sent to (`Host`).
 */
export function checkOrigin(req: Request, publicUrl: string | undefined): void {
  const origin = req.headers.get('origin')
  if (origin === null) return
  const own = publicUrl === undefined ? undefined : new URL(publicUrl).origin
  if (origin === own) return
  const host = req.headers.get('host')
  let originHost: string | undefined
  try {
    originHost = new URL(origin).host
  } catch {
    originHost = undefined // "null" (a sandboxed page or a file) or garbage
  }
  if (originHost !== undefined && host !== null && originHost.toLowerCase() === host.toLowerCase()) return
  throw new GridError(
    'forbidden_origin',
    `WebSocket connections from web pages at ${origin} are refused: only gridx workers and pages of this coordinator (${own ?? host ?? 'its own address'}) may connect. Behind a proxy that changes the address, start the coordinator with --public-url`,
    { status: 403 },
  )
}

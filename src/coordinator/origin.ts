import { GridError } from '../errors'

/**
 * Whether a browser's `Origin` names this coordinator: the public URL's origin, or the host the
 * request was sent to (`Host`), whatever the scheme — behind a TLS proxy (docs/NETWORK_SETUP.md)
 * the browser says `https://host` while the coordinator itself is reached over plain http.
 */
export function isOwnOrigin(origin: string, host: string | null, publicUrl: string | undefined): boolean {
  if (publicUrl !== undefined && origin === new URL(publicUrl).origin) return true
  let originHost: string | undefined
  try {
    originHost = new URL(origin).host
  } catch {
    originHost = undefined // "null" (a sandboxed page or a file) or garbage
  }
  return originHost !== undefined && host !== null && originHost.toLowerCase() === host.toLowerCase()
}

/**
 * Refuses a WebSocket upgrade sent by a web page of another site. Browsers always send `Origin`
 * on a WebSocket handshake; the gridx worker sends none.
 */
export function checkOrigin(req: Request, publicUrl: string | undefined): void {
  const origin = req.headers.get('origin')
  if (origin === null) return
  const host = req.headers.get('host')
  if (isOwnOrigin(origin, host, publicUrl)) return
  const own = publicUrl === undefined ? undefined : new URL(publicUrl).origin
  throw new GridError(
    'forbidden_origin',
    `WebSocket connections from web pages at ${origin} are refused: only gridx workers and pages of this coordinator (${own ?? host ?? 'its own address'}) may connect. Behind a proxy that changes the address, start the coordinator with --public-url`,
    { status: 403 },
  )
}

import type { WebDeps } from './env'

/**
 * Lifts the idle timeout of a live page's event stream while it is open (keepalives keep it
 * honest) and gives back the function that restores it when the stream ends; without a server
 * to ask (tests of the pages alone) both do nothing.
 */
export function holdStream(deps: WebDeps, req: Request): () => void {
  return deps.holdOpen?.(req) ?? (() => undefined)
}

/**
 * The headers of a live stream, set on the Response itself: hono's streamSSE overwrites the
 * context's `cache-control` (no-cache) and `connection` (keep-alive). `connection: close` lets an
 * ended stream's connection go instead of idling on a timeout that was lifted for it.
 */
export function liveHeaders(res: Response): Response {
  res.headers.set('cache-control', 'no-store')
  res.headers.set('connection', 'close')
  return res
}

/** Where an event stream's error goes: the coordinator's log (hono's default is the console). */
export function onStreamError(deps: WebDeps): (err: Error) => Promise<void> {
  return (err) => {
    const log = deps.log ?? ((line: string) => console.error(line))
    log(`dashboard: live stream failed: ${err.stack ?? err.message}`)
    return Promise.resolve()
  }
}

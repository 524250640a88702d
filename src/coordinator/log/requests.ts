import type { Logger } from './logger'

/** Most characters of a path a line keeps: a request's path is the client's to choose. */
const PATH_CHARS = 200

/** A request's path for the log, cut to `PATH_CHARS` (the query is left out: it may carry anything). */
export function logPath(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const q = url.indexOf('?', start)
  const path = url.slice(start, q < 0 ? undefined : q)
  return path.length > PATH_CHARS ? `${path.slice(0, PATH_CHARS)}…` : path
}

/** A refused request, as the API's error handler, the HTTP guard or the socket upgrade saw it. */
export interface Refused {
  status: number
  code: string
  method: string
  /** The request's URL (only its path is written). */
  url: string
  address: string | undefined
  message?: string | undefined
}

/** Most characters of a refusal's message a line keeps. */
const MESSAGE_CHARS = 300

/** Writes the `refused` line of one refused request. */
export function logRefused(logger: Logger, r: Refused): void {
  const msg =
    r.message && r.message.length > MESSAGE_CHARS ? `${r.message.slice(0, MESSAGE_CHARS)}…` : r.message
  logger.event(r.status >= 500 ? 'error' : 'warn', 'refused', {
    status: r.status,
    code: r.code,
    address: r.address,
    method: r.method,
    path: logPath(r.url),
    msg,
  })
}

/**
 * Wraps the server's fetch so each request gets a `request` line when its answer is ready
 * (status, time to the answer's head, its length when declared); 101 for a socket upgrade.
 */
export function logRequests<S>(
  logger: Logger,
  fetch: (req: Request, server: S) => Response | undefined | Promise<Response | undefined>,
  address: (req: Request, server: S) => string | undefined,
): (req: Request, server: S) => Promise<Response | undefined> {
  return async (req, server) => {
    const start = performance.now()
    const method = req.method
    const url = req.url
    const ip = address(req, server)
    let res: Response | undefined
    let status = 500
    try {
      res = await fetch(req, server)
      status = res === undefined ? 101 : res.status
      return res
    } finally {
      const bytes = res?.headers.get('content-length')
      logger.event('info', 'request', {
        method,
        path: logPath(url),
        status,
        ms: Math.round((performance.now() - start) * 10) / 10,
        address: ip,
        bytes: bytes ? Number(bytes) : undefined,
      })
    }
  }
}

import { fetchProxy, NO_PROXY_SETTINGS, type ProxySettings, routeFor } from '../proxy'
import { tlsOptions } from '../trust'
import { classifySocketError, type Failure } from './probes'

/** An HTTP answer as the doctor needs it: status, Date header, parsed JSON body (if any). */
export interface HttpReply {
  kind: 'reply'
  status: number
  /** The server's Date header, if it sent one. */
  date: Date | undefined
  json: unknown
  /** Local time the request was sent and the answer arrived, for clock skew. */
  sentAt: number
  receivedAt: number
}

/** One HTTP request with a deadline; any network failure comes back classified, never thrown. */
export async function probeHttp(
  url: string,
  opts: {
    method?: 'GET' | 'POST'
    token?: string | undefined
    body?: unknown
    ca: string | undefined
    /** A pinned certificate's SHA-256: checked instead of the host name, as the clients do. */
    pin?: string | undefined
    timeoutMs: number
    /** Accept any certificate: only to ask a local port what it is. */
    insecure?: boolean
    /** The proxy variables: the request goes as every client request does. */
    proxy?: ProxySettings | undefined
  },
): Promise<HttpReply | Failure> {
  const headers: Record<string, string> = {}
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const sentAt = Date.now()
  try {
    const res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(opts.timeoutMs),
      ...(opts.insecure
        ? { tls: { rejectUnauthorized: false } }
        : opts.pin
          ? { tls: tlsOptions({ pin: { fingerprint: opts.pin, anchor: opts.ca } }) }
          : opts.ca
            ? { tls: { ca: opts.ca } }
            : {}),
      ...fetchProxy(routeFor(opts.proxy ?? NO_PROXY_SETTINGS, url)),
    })
    const receivedAt = Date.now()
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    const date = res.headers.get('date')
    return {
      kind: 'reply',
      status: res.status,
      date: date && !Number.isNaN(Date.parse(date)) ? new Date(date) : undefined,
      json,
      sentAt,
      receivedAt,
    }
  } catch (err) {
    return classifySocketError(err)
  }
}

/** The `message` of a Grid-X JSON error body, if `json` is one. */
export function errorMessage(json: unknown): string | undefined {
  const m = (json as { error?: { message?: unknown } } | undefined)?.error?.message
  return typeof m === 'string' ? m : undefined
}

import { requireOperator } from '../auth'
import type { Auth } from '../auth'
import type { Registry } from './registry'
import { CONTENT_TYPE } from './text'
import { isMetricsToken } from './token'

/** What `GET /metrics` needs. */
export interface MetricsRouteDeps {
  registry: Registry
  auth: Pick<Auth, 'authenticate'>
  /** The scrape token (`--metrics-token-file`); without one only operators' login tokens scrape. */
  token?: string | undefined
}

/**
 * `GET /metrics`: the scrape token or an operator's login token, else the API's 401 (no or a
 * wrong token) or 403 (a user who is not an operator), thrown as the API's errors.
 */
export function metricsAnswer({ registry, auth, token }: MetricsRouteDeps) {
  return async (req: Request): Promise<Response> => {
    const header = req.headers.get('authorization')
    const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
    if (!(token !== undefined && given !== undefined && isMetricsToken(given, token))) {
      requireOperator(await auth.authenticate(header))
    }
    return new Response(await registry.expose(), {
      headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' },
    })
  }
}

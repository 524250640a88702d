import type { Registry } from './registry'

/** Seconds an HTTP request may take to answer (a followed output stream counts until its headers). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Methods counted by name; any other is `other`, so a client cannot grow the label set. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** A route of the API as hono lists it (`app.routes`). */
export interface RouteEntry {
  method: string
  path: string
}

/** A path template (`/api/jobs/:id`) turned into a matcher of whole paths. */
function matcher(template: string): RegExp {
  const parts = template
    .split('/')
    .map((p) => (p.startsWith(':') ? '[^/]+' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  return new RegExp(`^${parts.join('/')}/?$`)
}

/**
 * Names a request's route from a bounded set: the API's templates (`/api/jobs/:id`), `/ws/worker`,
 * `dashboard` for the web pages, `other` for the API's unknown paths. Never a raw path.
 */
export class RouteNames {
  private table: { template: string; re: RegExp }[] = []

  constructor(private readonly isApi: (path: string) => boolean) {}

  /** Learns the API's routes (middleware, `*` paths, are not routes). */
  learn(routes: readonly RouteEntry[]): void {
    const seen = new Set(this.table.map((r) => r.template))
    for (const r of routes) {
      if (r.path.includes('*') || seen.has(r.path)) continue
      seen.add(r.path)
      // Literal templates first: `/api/jobs/stats` must not be taken for `/api/jobs/:id`.
      this.table.push({ template: r.path, re: matcher(r.path) })
    }
    this.table.sort((a, b) => params(a.template) - params(b.template))
  }

  /** The route label of a path. */
  of(path: string): string {
    if (path === '/ws/worker') return path
    if (!this.isApi(path)) return 'dashboard'
    for (const r of this.table) if (r.re.test(path)) return r.template
    return 'other'
  }
}

function params(template: string): number {
  return template.split('/:').length - 1
}

/** The path of a request URL, without building a URL object. */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  let end = url.length
  const q = url.indexOf('?', start)
  if (q >= 0) end = q
  const h = url.indexOf('#', start)
  if (h >= 0 && h < end) end = h
  return url.slice(start, end)
}

/** Counts and times every HTTP request by route, method and status. */
export class HttpMetrics {
  readonly routes: RouteNames
  private readonly requests
  private readonly latency

  constructor(registry: Registry, isApi: (path: string) => boolean) {
    this.routes = new RouteNames(isApi)
    this.requests = registry.counter({
      name: 'gridx_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status (101: a worker socket upgrade).',
      labels: ['route', 'method', 'status'],
    })
    this.latency = registry.histogram({
      name: 'gridx_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (to its headers), by route template.',
      labels: ['route'],
      buckets: LATENCY_BUCKETS,
    })
  }

  /** Answers `req` with `answer`, counting it when it is answered (a failure counts as 500). */
  measure(req: Request, answer: () => Promise<Response | undefined>): Promise<Response | undefined> {
    const started = performance.now()
    const done = (status: number) => {
      const route = this.routes.of(pathOf(req.url))
      const method = METHODS.has(req.method) ? req.method : 'other'
      this.requests.labels(route, method, String(status)).inc()
      this.latency.labels(route).observe((performance.now() - started) / 1000)
    }
    return answer().then(
      (res) => {
        // Undefined: upgraded to a WebSocket.
        done(res ? res.status : 101)
        return res
      },
      (err: unknown) => {
        done(500)
        throw err
      },
    )
  }
}

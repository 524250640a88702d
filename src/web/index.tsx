import { Hono } from 'hono'
import { GridError, describe } from '../errors'
import { assetRoutes } from './assets'
import type { WebDeps, WebEnv } from './env'
import { securityHeaders } from './headers'
import { Document } from './layout'
import { adminPages } from './pages/admin'
import { creditsPages } from './pages/credits'
import { jobsPages } from './pages/jobs'
import { loginRoutes } from './pages/login'
import { overviewPages } from './pages/overview'
import { runPages } from './pages/run'
import { workersPages } from './pages/workers'
import { requireSession } from './session'

export type { WebDeps, WebEnv } from './env'

/** Paths the API answers (and the worker socket); every other path is the dashboard's. */
export function isApiPath(path: string): boolean {
  return (
    path.startsWith('/api/') ||
    path === '/api' ||
    path === '/health' ||
    path === '/metrics' ||
    path.startsWith('/ws/')
  )
}

function ErrorPage(props: { status: number; message: string }) {
  return (
    <Document title={props.status === 404 ? 'Not found' : 'Error'}>
      <main id="main">
        <h1>{props.status === 404 ? 'Not found' : 'Something went wrong'}</h1>
        <p>{props.message}</p>
        <p>
          <a href="/">Back to the overview</a>
        </p>
      </main>
    </Document>
  )
}

/**
 * The web dashboard: server-rendered pages (hono/jsx) with a little browser code, on the API's
 * port, for logged-in users only, each showing what the API would show that user.
 */
export function createWeb(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  app.onError((err, c) => {
    if (err instanceof GridError && err.status < 500) {
      return c.html(<ErrorPage status={err.status} message={err.message} />, err.status as 404)
    }
    const log = deps.log ?? ((line: string) => console.error(line))
    log(
      `dashboard: internal error on ${c.req.method} ${c.req.path}: ${err instanceof Error ? (err.stack ?? err.message) : describe(err)}`,
    )
    return c.html(<ErrorPage status={500} message="internal error; see the coordinator log" />, 500)
  })
  app.notFound((c) => c.html(<ErrorPage status={404} message={`There is no page ${c.req.path}.`} />, 404))
  app.use('*', securityHeaders())
  app.route('/', assetRoutes())
  app.route('/', loginRoutes(deps))
  // Everything after this line is for a logged-in user only.
  app.use('*', requireSession(deps))
  for (const pages of [overviewPages, workersPages, jobsPages, runPages, creditsPages, adminPages]) {
    app.route('/', pages(deps))
  }
  return app
}

import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The jobs section of the dashboard (placeholder: built by its own change). */
export function jobsPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/jobs', (c) =>
    c.html(
      <Page title="Jobs" user={c.get('user')} csrf={c.get('csrf')} section="none">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

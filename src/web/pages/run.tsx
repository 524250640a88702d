import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The run section of the dashboard (placeholder: built by its own change). */
export function runPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/run', (c) =>
    c.html(
      <Page title="Run" user={c.get('user')} csrf={c.get('csrf')} section="none">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

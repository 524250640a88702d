import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The workers section of the dashboard (placeholder: built by its own change). */
export function workersPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/workers', (c) =>
    c.html(
      <Page title="Workers" user={c.get('user')} csrf={c.get('csrf')} section="none">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

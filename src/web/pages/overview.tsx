import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The overview section of the dashboard (placeholder: built by its own change). */
export function overviewPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/', (c) =>
    c.html(
      <Page title="Overview" user={c.get('user')} csrf={c.get('csrf')} section="overview">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

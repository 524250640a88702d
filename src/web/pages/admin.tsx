import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The admin section of the dashboard (placeholder: built by its own change). */
export function adminPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/admin', (c) =>
    c.html(
      <Page title="Admin" user={c.get('user')} csrf={c.get('csrf')} section="none">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

import { Hono } from 'hono'
import type { WebDeps, WebEnv } from '../env'
import { Page } from '../layout'

/** The credits section of the dashboard (placeholder: built by its own change). */
export function creditsPages(deps: WebDeps): Hono<WebEnv> {
  void deps
  const app = new Hono<WebEnv>()
  app.get('/credits', (c) =>
    c.html(
      <Page title="Credits" user={c.get('user')} csrf={c.get('csrf')} section="none">
        <p class="muted">Not built yet.</p>
      </Page>,
    ),
  )
  return app
}

import { Hono } from 'hono'
import { GridError } from '../../errors'
import { BODY_LIMITS } from '../../coordinator/http-limits'
import { Credentials } from '../../protocol/api'
import type { WebDeps, WebEnv } from '../env'
import { Document } from '../layout'
import { endSession, foreignOrigin, requireSession, sessionToken, startSession } from '../session'

/** Where a login may send the browser back to: a path of this dashboard only. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && next.length < 2000 ? next : '/'
}

function LoginForm(props: { next: string; user?: string; error?: string }) {
  return (
    <Document title="Log in">
      <main class="login" id="main">
        <h1>Grid-X</h1>
        <form class="stack" method="post" action="/login">
          {props.error ? (
            <p class="error" role="alert">
              {props.error}
            </p>
          ) : null}
          <label>
            User
            <input
              name="user"
              autocomplete="username"
              required
              maxlength={64}
              value={props.user ?? ''}
              autofocus
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autocomplete="current-password"
              required
              maxlength={1024}
            />
          </label>
          <input type="hidden" name="next" value={props.next} />
          <button class="primary" type="submit">
            Log in
          </button>
        </form>
      </main>
    </Document>
  )
}

/** The login form, logging in (the API's accounts and its throttling of guesses), logging out. */
export function loginRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  app.get('/login', (c) => c.html(<LoginForm next={safeNext(c.req.query('next'))} />))
  app.post('/login', async (c) => {
    if (foreignOrigin(c, deps)) return c.text('cross-origin login refused', 403)
    if (Number(c.req.header('content-length') ?? 0) > BODY_LIMITS.auth)
      return c.text('login form too large', 413)
    const form = await c.req.parseBody()
    const user = typeof form['user'] === 'string' ? form['user'] : ''
    const password = typeof form['password'] === 'string' ? form['password'] : ''
    const next = safeNext(form['next'])
    const creds = Credentials.safeParse({ user, password })
    if (!creds.success)
      return c.html(<LoginForm next={next} user={user} error="enter your user name and password" />, 400)
    try {
      const session = await deps.auth.login(creds.data, c.env?.ip)
      startSession(c, deps, session.token, new Date(session.expiresAt))
      return c.redirect(next, 303)
    } catch (err) {
      if (!(err instanceof GridError) || err.status >= 500) throw err
      if (err.retryAfterS !== undefined) c.header('Retry-After', String(err.retryAfterS))
      return c.html(<LoginForm next={next} user={user} error={err.message} />, err.status as 401)
    }
  })

  // Logging out revokes the session's token: a form post with its CSRF token (see requireSession).
  app.post('/logout', requireSession(deps), async (c) => {
    const token = sessionToken(c)
    if (token) await deps.auth.logout(`Bearer ${token}`)
    endSession(c, deps)
    return c.redirect('/login', 303)
  })
  return app
}

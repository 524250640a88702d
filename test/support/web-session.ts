import type { TestCoordinator } from './coordinator'

/** A browser-like session on a test coordinator's dashboard: a cookie jar of one, and its CSRF token. */
export interface WebSession {
  cookie: string
  csrf: string
  get(path: string): Promise<Response>
  /** Posts a form (the CSRF token is added unless `csrf: false`). */
  form(path: string, fields: Record<string, string>, opts?: { csrf?: boolean }): Promise<Response>
}

/** Logs in through the dashboard's form; the CSRF token is read from the page it lands on. */
export async function webLogin(
  t: TestCoordinator,
  user = 'alice',
  password = 'password-123',
): Promise<WebSession> {
  const res = await fetch(`${t.base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.base },
    body: new URLSearchParams({ user, password, next: '/' }),
    redirect: 'manual',
  })
  if (res.status !== 303) throw new Error(`web login ${user}: ${res.status} ${await res.text()}`)
  const cookie = /gridx_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0]
  if (!cookie) throw new Error('web login set no session cookie')
  const get = (path: string) =>
    fetch(`${t.base}${path}`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' })
  const page = await (await get('/')).text()
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1]
  if (!csrf) throw new Error('no CSRF token on the overview page')
  return {
    cookie,
    csrf,
    get,
    form: (path, fields, opts = {}) =>
      fetch(`${t.base}${path}`, {
        method: 'POST',
        headers: { cookie, origin: t.base, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(opts.csrf === false ? fields : { ...fields, csrf }),
        redirect: 'manual',
      }),
  }
}

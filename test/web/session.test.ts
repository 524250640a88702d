import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { webLogin } from '../support/web-session'

let t: TestCoordinator
beforeAll(async () => {
  t = await startTestCoordinator()
})
afterAll(async () => t.stop())

describe('dashboard sessions', () => {
  test('a page without a session redirects to the login form; the API still answers JSON 404s', async () => {
    const res = await fetch(`${t.base}/workers`, { headers: { accept: 'text/html' }, redirect: 'manual' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/login?next=%2Fworkers')
    const api = await fetch(`${t.base}/api/nothing`)
    expect(api.status).toBe(401)
    const form = await fetch(`${t.base}/login`)
    expect(form.status).toBe(200)
    expect(form.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(form.headers.get('x-frame-options')).toBe('DENY')
    expect(await form.text()).toContain('name="password"')
  })

  test('a wrong password is refused on the form, and no cookie is set', async () => {
    const res = await fetch(`${t.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'alice', password: 'wrong-password' }),
      redirect: 'manual',
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(await res.text()).toContain('role="alert"')
  })

  test('logging in sets an HttpOnly, SameSite=Strict cookie; a state change needs the CSRF token', async () => {
    const res = await fetch(`${t.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'alice', password: 'password-123', next: '//evil.example/' }),
      redirect: 'manual',
    })
    expect(res.status).toBe(303)
    // A `next` leaving the dashboard goes to the overview instead.
    expect(res.headers.get('location')).toBe('/')
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toContain('HttpOnly')
    expect(cookie).toContain('SameSite=Strict')
    expect(cookie).not.toContain('Secure')

    const s = await webLogin(t)
    expect((await s.get('/')).status).toBe(200)
    // Without the token, or from another origin, logging out is refused and the session lives.
    expect((await s.form('/logout', {}, { csrf: false })).status).toBe(403)
    const foreign = await fetch(`${t.base}/logout`, {
      method: 'POST',
      headers: {
        cookie: s.cookie,
        origin: 'http://evil.example',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ csrf: s.csrf }),
      redirect: 'manual',
    })
    expect(foreign.status).toBe(403)
    expect((await s.get('/')).status).toBe(200)
    const out = await s.form('/logout', {})
    expect(out.status).toBe(303)
    expect(out.headers.get('set-cookie')).toContain('gridx_session=;')
    // The token is revoked: the old cookie no longer opens a page.
    expect((await s.get('/')).status).toBe(303)
  })

  test('an unknown page is an HTML 404 for a logged-in user', async () => {
    const s = await webLogin(t)
    const res = await s.get('/no-such-page')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('text/html')
  })

  test('assets are served with a content hash and a long cache life, without a session', async () => {
    const s = await webLogin(t)
    const page = await (await s.get('/')).text()
    const css = /href="(\/assets\/style\.[0-9a-f]{12}\.css)"/.exec(page)?.[1]
    expect(css).toBeDefined()
    const res = await fetch(`${t.base}${css}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${t.base}/assets/style.000000000000.css`)).status).toBe(404)
  })
})

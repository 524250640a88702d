import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { webLogin } from '../support/web-session'

// Behind the TLS proxy of docs/NETWORK_SETUP.md the browser is on https://host while the
// coordinator is reached over plain http with the same Host: its form posts must still work.
let t: TestCoordinator
const lines: string[] = []
beforeAll(async () => {
  t = await startTestCoordinator({}, { log: (line) => lines.push(line) })
})
afterAll(async () => t.stop())

const login = (origin: string, headers: Record<string, string> = {}) =>
  fetch(`${t.base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers },
    body: new URLSearchParams({ user: 'alice', password: 'password-123', next: '/' }),
    redirect: 'manual',
  })

describe('the dashboard behind a TLS proxy', () => {
  test('a login from https://<the same host:port> is accepted; a foreign origin is refused', async () => {
    const host = new URL(t.base).host
    const ok = await login(`https://${host}`)
    expect(ok.status).toBe(303)
    const cookie = /gridx_session=[^;]+/.exec(ok.headers.get('set-cookie') ?? '')?.[0]
    expect(cookie).toBeDefined()
    // A state change from the https page too (logging out).
    const page = await (await fetch(`${t.base}/`, { headers: { cookie: cookie! } })).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1]
    const out = await fetch(`${t.base}/logout`, {
      method: 'POST',
      headers: {
        cookie: cookie!,
        origin: `https://${host}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ csrf: csrf! }),
      redirect: 'manual',
    })
    expect(out.status).toBe(303)
    expect((await login('https://evil.example')).status).toBe(403)
    expect((await login(`https://${host}.evil.example`)).status).toBe(403)
    expect((await login('null')).status).toBe(403)
  })

  test('the session cookie is Secure when the proxy says the browser is on https', async () => {
    const plain = await login(t.base)
    expect(plain.headers.get('set-cookie')).not.toContain('Secure')
    const proxied = await login(t.base, { 'x-forwarded-proto': 'https' })
    expect(proxied.status).toBe(303)
    expect(proxied.headers.get('set-cookie')).toContain('Secure')
  })

  test('logging out of an ended session clears the cookie and goes to the login form', async () => {
    const s = await webLogin(t)
    expect((await s.form('/logout', {})).status).toBe(303)
    // The old cookie's session is revoked: a second logout (another tab) is no bare 401.
    const again = await s.form('/logout', {})
    expect(again.status).toBe(303)
    expect(again.headers.get('location')).toBe('/login')
    expect(again.headers.get('set-cookie')).toContain('gridx_session=;')
  })

  test('a flash cookie that does not verify is dropped', async () => {
    const s = await webLogin(t)
    const done = await s.form('/admin/grant', { user: 'alice', amount: '1', memo: 'x' })
    const flash = /gridx_flash=[^;]+/.exec(done.headers.get('set-cookie') ?? '')?.[0]
    expect(flash).toBeDefined()
    const shown = await fetch(`${t.base}/admin`, { headers: { cookie: `${s.cookie}; ${flash}` } })
    expect(await shown.text()).toContain('role="status"')
    // A planted one (what a page could set if it could write cookies here), unsigned:
    const forged = Buffer.from(JSON.stringify({ ok: false, text: 'PLANTED call 555-0100' })).toString(
      'base64url',
    )
    const page = await fetch(`${t.base}/admin`, { headers: { cookie: `${s.cookie}; gridx_flash=${forged}` } })
    expect(await page.text()).not.toContain('PLANTED')
    // Another session's genuine flash does not verify with this session's token either.
    const other = await webLogin(t)
    const theirs = await fetch(`${t.base}/admin`, { headers: { cookie: `${other.cookie}; ${flash}` } })
    expect(await theirs.text()).not.toContain('role="status"')
    expect(lines.filter((l) => l.includes('dashboard: internal error'))).toEqual([])
  })
})

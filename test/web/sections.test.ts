import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, hello, startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { webLogin } from '../support/web-session'
import { testWorker } from '../support/worker-keys'
import { WORKERS_LISTED } from '../../src/web/pages/workers'

let t: TestCoordinator
beforeAll(async () => {
  t = await startTestCoordinator()
  await t.addUser('bob')
})
afterAll(async () => t.stop())

const XSS = '<img src=x onerror=alert(1)>'

describe('the workers page', () => {
  test('lists a connected worker with its owner, version, policy and state; a hostile name is escaped', async () => {
    const bobToken = await t.addUser('bobby')
    const w = testWorker('sections-worker-1')
    const c = connect(t.coord.wsPort, bobToken)
    expect(await c.opened).toBe(true)
    c.send({
      ...hello(w),
      name: XSS,
      version: '9.8.7',
      slots: 3,
      policy: {
        maxTimeoutMs: 600_000,
        images: ['python:*', 'alpine'],
        workdirBytes: 256 * 1024 ** 2,
        packages: true,
      },
    })
    await c.next('welcome')
    const s = await webLogin(t, 'bob', 'bob-password')
    const page = await (await s.get('/workers')).text()
    expect(page).not.toContain(XSS)
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;')
    expect(page).toContain('bobby')
    expect(page).toContain('9.8.7')
    expect(page).toContain('python:*, alpine')
    expect(page).toContain('10 min')
    expect(page).toContain('256 MiB')
    expect(page).toContain('installs Python packages')
    expect(page).toContain('3 slots, 2 CPUs')
    expect(page).toMatch(/class="worker-ready">ready</)
    expect(page).toContain('<th scope="col">Owner</th>')
    c.ws.close()
    await c.closed
    // Gone now: still listed, as gone.
    let again = ''
    for (let i = 0; i < 100 && !again.includes('worker-gone'); i++) {
      again = await (await s.get('/workers')).text()
      await Bun.sleep(50)
    }
    expect(again).toMatch(/class="worker-gone">gone</)
    expect(again).not.toContain(XSS)
  })
})

describe('the workers page, read once for everyone', () => {
  test('views share one reading of the totals (at most every few seconds) and the table is capped', async () => {
    const stats = t.coord.store.stats
    const totals = stats.workerTotals.bind(stats)
    let reads = 0
    stats.workerTotals = () => {
      reads++
      return totals()
    }
    try {
      const alice = await webLogin(t)
      const bob = await webLogin(t, 'bob', 'bob-password')
      for (let i = 0; i < 3; i++) {
        expect((await alice.get('/workers')).status).toBe(200)
        expect((await bob.get('/workers')).status).toBe(200)
      }
      expect(reads).toBeLessThanOrEqual(1)
      // More workers seen this week than the table shows: the newest, and a line for the rest.
      const { id } = (await t.coord.store.accounts.byName('bob'))!
      const now = Date.now()
      for (let i = 0; i < WORKERS_LISTED + 2; i++)
        await t.coord.store.workers.upsert(`many-${i}`, id, `many-${i}`, now + i)
      let page = ''
      for (let i = 0; i < 200 && !page.includes('data-more-workers'); i++) {
        page = await (await alice.get('/workers')).text()
        await Bun.sleep(100)
      }
      expect(page).toMatch(new RegExp(`The first ${WORKERS_LISTED} of \\d+ workers; \\d+ more`))
      expect(page.match(/<tr>/g)?.length).toBe(WORKERS_LISTED + 1)
    } finally {
      stats.workerTotals = totals
    }
  })
})

describe('the credits page', () => {
  test('balance, escrow and the history, paged with an older link', async () => {
    for (let i = 0; i < 30; i++) {
      const res = await t.post(
        '/api/credits/grant',
        { user: 'alice', amountMc: 1000 + i, memo: `m${i}` },
        t.token,
      )
      expect(res.status).toBe(201)
    }
    const s = await webLogin(t)
    const first = await (await s.get('/credits')).text()
    expect(first).toContain('m29')
    expect(first).not.toContain('>m4<')
    const older = /href="\/credits\?before=(\d+)#history"/.exec(first)?.[1]
    expect(older).toBeDefined()
    const second = await (await s.get(`/credits?before=${older}`)).text()
    expect(second).toContain('>m4<')
    expect(second).not.toContain('>m29<')
    expect(second).toContain('href="/credits"')
    expect((await s.get('/credits?before=abc')).status).toBe(400)
  })
})

describe('the operator page', () => {
  test('is a 403 page for a non-operator, and its forms too', async () => {
    const s = await webLogin(t, 'bob', 'bob-password')
    const res = await s.get('/admin')
    expect(res.status).toBe(403)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain('is not an operator')
    expect((await s.form('/admin/grant', { user: 'bob', amount: '5' })).status).toBe(403)
    expect(await (await s.get('/')).text()).not.toContain('href="/admin"')
  })

  test('grants credits: confirmed on the page, refused without the CSRF token, errors shown', async () => {
    const s = await webLogin(t)
    const page = await (await s.get('/admin')).text()
    expect(page).toContain('The ledger balances')
    expect(page).toMatch(/<th scope="row">bob<\/th>/)
    const before = (await t.coord.store.credits.of((await t.coord.store.accounts.byName('bob'))!.id, 1))
      .balance

    expect((await s.form('/admin/grant', { user: 'bob', amount: '5' }, { csrf: false })).status).toBe(403)
    const done = await s.form('/admin/grant', { user: 'bob', amount: '2.5', memo: 'thanks' })
    expect(done.status).toBe(303)
    expect(done.headers.get('location')).toBe('/admin')
    const flash = /gridx_flash=[^;]+/.exec(done.headers.get('set-cookie') ?? '')?.[0]
    expect(flash).toBeDefined()
    const after = await fetch(`${t.base}/admin`, { headers: { cookie: `${s.cookie}; ${flash}` } })
    const text = await after.text()
    expect(text).toContain('role="status"')
    expect(text).toContain('Granted 2.5 credits to bob.')
    const bob = (await t.coord.store.accounts.byName('bob'))!
    expect((await t.coord.store.credits.of(bob.id, 1)).balance).toBe(before + 2500)

    for (const [fields, says] of [
      [{ user: 'bob', amount: 'lots' }, 'is not an amount of credits'],
      [{ user: 'nobody-here', amount: '1' }, 'nobody-here'],
      [{ user: 'bob', amount: '0' }, 'amountMc'],
    ] as const) {
      const res = await s.form('/admin/grant', fields)
      expect(res.status).toBe(303)
      const f = /gridx_flash=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0]
      const shown = await (
        await fetch(`${t.base}/admin`, { headers: { cookie: `${s.cookie}; ${f}` } })
      ).text()
      expect(shown).toContain('role="alert"')
      expect(shown).toContain(says)
    }
    expect((await t.coord.store.credits.of(bob.id, 1)).balance).toBe(before + 2500)
    expect((await t.coord.store.credits.audit()).ok).toBe(true)
  })

  test('makes an invite (its code shown once) that registers an account, and revokes one', async () => {
    const s = await webLogin(t)
    expect((await s.form('/admin/invites', { grant: '7', uses: '1' }, { csrf: false })).status).toBe(403)
    const made = await s.form('/admin/invites', { grant: '7', uses: '1', days: '2' })
    expect(made.status).toBe(303)
    const flash = /gridx_flash=[^;]+/.exec(made.headers.get('set-cookie') ?? '')?.[0]
    const shown = await (
      await fetch(`${t.base}/admin`, { headers: { cookie: `${s.cookie}; ${flash}` } })
    ).text()
    const code = /<code class="secret">([^<]+)<\/code>/.exec(shown)?.[1]
    expect(code).toBeDefined()
    const reg = await t.post('/api/auth/register', {
      user: 'carol',
      password: 'carol-password',
      invite: code,
    })
    expect(reg.status).toBe(201)
    const carol = (await t.coord.store.accounts.byName('carol'))!
    expect((await t.coord.store.credits.of(carol.id, 1)).balance).toBe(7000)

    await s.form('/admin/invites', {})
    const list = await (await s.get('/admin')).text()
    const id = /action="\/admin\/invites\/([^/"]+)\/revoke"/.exec(list)?.[1]
    expect(id).toBeDefined()
    expect((await s.form(`/admin/invites/${id}/revoke`, {}, { csrf: false })).status).toBe(403)
    expect((await s.form(`/admin/invites/${id}/revoke`, {})).status).toBe(303)
    const views = await t.coord.store.invites.list(Date.now())
    expect(views.find((v) => v.id === id)?.state).toBe('revoked')
    // The code never shows on the page again.
    expect(await (await s.get('/admin')).text()).not.toContain(code!)
  })

  test("a refused grant or invite flashes the API's own words (one rule for both)", async () => {
    const s = await webLogin(t)
    const cases = [
      ['/admin/grant', { user: 'bob', amount: '0' }, '/api/credits/grant', { user: 'bob', amountMc: 0 }, 400],
      [
        '/admin/grant',
        { user: 'nobody-here', amount: '1' },
        '/api/credits/grant',
        { user: 'nobody-here', amountMc: 1000 },
        404,
      ],
      ['/admin/invites', { uses: '0' }, '/api/invites', { uses: 0 }, 400],
      ['/admin/invites', { days: '0.0001' }, '/api/invites', { expiresInMs: 8640 }, 400],
    ] as const
    for (const [form, fields, api, body, status] of cases) {
      const words = await apiWords(t, api, body, status)
      expect(await flashed(t, s, form, fields)).toBe(words)
    }
    const closed = await startTestCoordinator({ signup: 'closed' })
    try {
      const words = await apiWords(closed, '/api/invites', {}, 409)
      expect(words).toContain('--signup closed')
      expect(await flashed(closed, await webLogin(closed), '/admin/invites', {})).toBe(words)
      expect(await closed.coord.store.invites.list(Date.now())).toHaveLength(0)
    } finally {
      await closed.stop()
    }
  })
})

/** The message of an API refusal (alice's token), checking its status (400 unless told). */
async function apiWords(on: TestCoordinator, path: string, body: unknown, status = 400): Promise<string> {
  const res = await on.post(path, body, on.token)
  const json = (await res.json()) as { error: { message: string } }
  if (res.status !== status) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return json.error.message
}

/** The error a dashboard form post flashes on /admin, unescaped. */
async function flashed(
  on: TestCoordinator,
  s: Awaited<ReturnType<typeof webLogin>>,
  path: string,
  fields: Record<string, string>,
): Promise<string | undefined> {
  const res = await s.form(path, fields)
  expect(res.status).toBe(303)
  const f = /gridx_flash=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0]
  const page = await (await fetch(`${on.base}/admin`, { headers: { cookie: `${s.cookie}; ${f}` } })).text()
  const text = /role="alert"><p>([^<]*)<\/p>/.exec(page)?.[1]
  return text
    ?.replaceAll('&#39;', "'")
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
}

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { browserUnavailable, launchBrowser } from '../support/browser'
import { type Grid, gridx, PY_IMAGE, startGrid, tempDir } from './harness'

// The dashboard in a real browser against the compiled binary, a real `gridx work` and Docker:
// run a script from the Run page, follow a CLI job's output, cancel a running job and see its
// container go, another user's 404s, logout. Screenshots go to docs/dashboard/ (docs/DASHBOARD.md).

const skip = browserUnavailable()
if (skip) console.warn(`skipping the dashboard's end-to-end test: ${skip}`)

const SHOTS = resolve(import.meta.dir, '../../docs/dashboard')
let grid: Grid
let browser: Browser
let alice: Record<string, string>
let work: string
const base = () => `http://127.0.0.1:${grid.httpPort}`

beforeAll(async () => {
  if (skip) return
  grid = await startGrid()
  alice = await grid.user('alice')
  await grid.user('bob')
  await grid.worker(alice, 'alices-pc')
  browser = await launchBrowser()
  work = tempDir('dashboard')
  mkdirSync(SHOTS, { recursive: true })
  // Prints a line at once, then more with pauses: output must show while it runs.
  writeFileSync(
    join(work, 'count.py'),
    'import time\nprint("first line", flush=True)\nfor i in range(6):\n    time.sleep(1)\n    print(f"line {i}", flush=True)\nprint("done")\n',
  )
}, 120_000)
afterAll(async () => {
  if (skip) return
  await browser.close()
  const trouble = grid.serve
    .stderr()
    .split('\n')
    .filter((l) => l.includes('internal error'))
  if (trouble.length > 0) console.error(trouble.join('\n'))
  await grid.close()
})

async function logIn(user: string, password: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
  await page.goto(`${base()}/jobs`)
  await page.getByLabel('User').fill(user)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL(`${base()}/jobs`)
  return page
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

/** Running containers of one job (its `gridx.job` label), as Docker lists them. */
async function containersOf(jobId: string): Promise<string[]> {
  const p = Bun.spawn(['docker', 'ps', '-q', '--filter', `label=gridx.job=${jobId}`], { stdout: 'pipe' })
  return (await new Response(p.stdout).text()).split('\n').filter(Boolean)
}

describe.skipIf(skip !== undefined)('the dashboard, end to end', () => {
  let page: Page
  let cliJob = ''
  const errors: string[] = []

  test('log in; the overview and the workers page show the worker', async () => {
    page = await logIn('alice', 'password-123')
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Overview' }).click()
    await page.locator('[data-field="workers"]', { hasText: '1' }).first().waitFor({ timeout: 30_000 })
    await shot(page, 'overview')
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Workers' }).click()
    const row = page.locator('tr', { hasText: 'alices-pc' })
    await row.waitFor()
    expect(await row.textContent()).toContain('ready')
    expect(await row.textContent()).toContain('alice')
    await shot(page, 'workers')
  }, 60_000)

  test('run a script from the Run page, see its output while it runs', async () => {
    await page
      .getByRole('navigation', { name: 'Sections' })
      .getByRole('link', { name: 'Run a script' })
      .click()
    await page.getByLabel('Python script (.py)').setInputFiles(join(work, 'count.py'))
    await page.getByLabel('Image').fill(PY_IMAGE)
    await page.getByLabel('Time limit').fill('2m')
    await shot(page, 'run')
    await page.getByRole('button', { name: 'Run', exact: true }).click()
    await page.waitForURL(/\/jobs\/[a-z2-9]{12}$/)
    const out = page.locator('pre.output')
    await out.locator('span.stdout', { hasText: 'first line' }).waitFor({ timeout: 90_000 })
    // The first line is on the page while the job still runs.
    const state = await page.locator('[data-field="state"]').first().textContent()
    expect(['assigned', 'running']).toContain(state ?? '')
    expect(await out.textContent()).not.toContain('done')
    await shot(page, 'job-running')
    await out.locator('span.stdout', { hasText: 'done' }).waitFor({ timeout: 60_000 })
    await page.locator('[data-field="state"]', { hasText: 'succeeded' }).first().waitFor({ timeout: 30_000 })
    await page.reload()
    expect(await page.locator('[data-receipt="verified"]').count()).toBe(1)
    await shot(page, 'job-done')
  }, 180_000)

  test('a job submitted from the CLI shows its live output on its page; the list shows it', async () => {
    const d = await gridx(
      [
        'submit',
        '--detach',
        '--image',
        PY_IMAGE,
        '--',
        'sh',
        '-c',
        'echo cli-started; echo to-stderr >&2; sleep 120',
      ],
      alice,
    )
    expect(d.code).toBe(0)
    cliJob = d.stdout.trim()
    await page.goto(`${base()}/jobs`)
    await page.getByRole('link', { name: cliJob }).waitFor()
    await shot(page, 'jobs')
    await page.getByRole('link', { name: cliJob }).click()
    await page.locator('pre.output span.stdout', { hasText: 'cli-started' }).waitFor({ timeout: 90_000 })
    await page.locator('pre.output span.stderr', { hasText: 'to-stderr' }).waitFor({ timeout: 30_000 })
  }, 180_000)

  test('another user cannot open that job’s page nor its files', async () => {
    const other = await logIn('bob', 'password-123')
    for (const path of [`/jobs/${cliJob}`, `/jobs/${cliJob}/outputs.tar`]) {
      const res = await other.request.get(`${base()}${path}`)
      expect(res.status()).toBe(404)
      expect(await res.text()).toContain('among yours')
    }
    await other.close()
  }, 60_000)

  test('cancel the running job from its page: its container goes', async () => {
    expect((await containersOf(cliJob)).length).toBe(1)
    await page.getByRole('button', { name: 'Cancel this job' }).click()
    await page.waitForURL(`${base()}/jobs/${cliJob}`)
    await page.locator('[data-field="state"]', { hasText: 'cancelled' }).first().waitFor({ timeout: 30_000 })
    const deadline = Date.now() + 60_000
    while ((await containersOf(cliJob)).length > 0) {
      if (Date.now() > deadline) throw new Error(`the container of job ${cliJob} is still running`)
      await Bun.sleep(250)
    }
    const status = await gridx(['status', cliJob, '--json'], alice)
    expect((JSON.parse(status.stdout) as { state: string }).state).toBe('cancelled')
  }, 120_000)

  test('the credits and operator pages show the ledger after those jobs', async () => {
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Credits' }).click()
    await page.getByRole('heading', { name: 'Credits' }).waitFor()
    // The script's run was paid from alice's balance: a pay line is in her history.
    expect(await page.locator('table').first().textContent()).toContain('paid for a job')
    await shot(page, 'credits')
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Operator' }).click()
    await page.getByText('bob').first().waitFor()
    await shot(page, 'operator')
  }, 60_000)

  test('logout ends the session; no page had a script or CSP error', async () => {
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL(/\/login$/)
    await page.goto(`${base()}/jobs`)
    expect(new URL(page.url()).pathname).toBe('/login')
    expect(errors).toEqual([])
    await page.close()
  }, 60_000)
})

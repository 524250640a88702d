import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { browserUnavailable, launchBrowser } from '../support/browser'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'

const skip = browserUnavailable()
if (skip) console.warn(`skipping the dashboard's browser tests: ${skip}`)

let t: TestCoordinator
let browser: Browser
beforeAll(async () => {
  if (skip) return
  t = await startTestCoordinator()
  browser = await launchBrowser()
})
afterAll(async () => {
  if (skip) return
  await browser.close()
  await t.stop()
})

describe.skipIf(skip !== undefined)('the dashboard in a real browser', () => {
  test('log in with the form, land on the page asked for, log out', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    await page.goto(`${t.base}/workers`)
    expect(new URL(page.url()).pathname).toBe('/login')
    await page.getByLabel('User').fill('alice')
    await page.getByLabel('Password').fill('password-123')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${t.base}/workers`)
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL(/\/login$/)
    await page.goto(`${t.base}/`)
    expect(new URL(page.url()).pathname).toBe('/login')
    // No refusal by the Content-Security-Policy, no script error.
    expect(errors).toEqual([])
    await page.close()
  })
})

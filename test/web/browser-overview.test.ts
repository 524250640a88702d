import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { browserUnavailable, launchBrowser } from '../support/browser'
import { connectWorker, startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { testWorker } from '../support/worker-keys'

const skip = browserUnavailable()
if (skip) console.warn(`skipping the overview's browser test: ${skip}`)

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

describe.skipIf(skip !== undefined)('the overview in a real browser', () => {
  test('a worker connecting shows without a reload; no console error', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    await page.goto(`${t.base}/`)
    await page.getByLabel('User').fill('alice')
    await page.getByLabel('Password').fill('password-123')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${t.base}/`)
    // Waits (without reloading) until the card `field` shows `text`.
    const shows = (field: string, text: string) =>
      page
        .locator(`[data-field="${field}"]`, { hasText: new RegExp(`^${text}$`) })
        .waitFor({ timeout: 20_000 })
    const workers = page.locator('[data-field="workers"]')
    expect(await workers.textContent()).toBe('0')
    expect(await page.getByRole('img', { name: 'Jobs finished per minute, last hour' }).count()).toBe(1)
    let loads = 0
    page.on('load', () => loads++)
    // The live stream is open before the worker comes (the first event is the state now).
    await shows('queued', '0')
    await t.submit()
    await shows('queued', '1')
    const c = await connectWorker(t, testWorker('browser-overview-1'))
    await shows('workers', '1')
    await shows('running', '1')
    expect(loads).toBe(0)
    // The chart is still whole after the live redraws (chart.js keeps one bar a minute).
    expect(await page.locator('svg[data-chart="throughput"] g.bars rect').count()).toBe(60)
    await page.goto(`${t.base}/workers`)
    expect(await page.getByRole('cell', { name: 'alice' }).count()).toBeGreaterThan(0)
    await page.goto(`${t.base}/credits`)
    await page.goto(`${t.base}/admin`)
    expect(await page.getByRole('heading', { name: 'Grant credits' }).count()).toBe(1)
    expect(errors).toEqual([])
    c.ws.close()
    await page.close()
  })
})

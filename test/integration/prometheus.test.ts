import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { connectWorker, startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { runJobs, scrape } from '../support/metrics'
import { testWorker } from '../support/worker-keys'

// Debian's real Prometheus scrapes a real coordinator on loopback with a bearer token file; its
// own query API must show the finished jobs, and promtool must find nothing to say of a scrape.

const PROMETHEUS = Bun.which('prometheus')
const PROMTOOL = Bun.which('promtool')
if (!PROMETHEUS || !PROMTOOL) {
  console.warn(
    'prometheus.test.ts skipped: install Debian\u2019s prometheus package (apt-get install prometheus)',
  )
}

const TOKEN = 'prometheus-scrape-token-5d41402abc4b2a76'
const worker = testWorker('prometheus-worker')
let t: TestCoordinator
let prom: Subprocess<'ignore', 'pipe', 'pipe'> | undefined
let dir: string
let promUrl: string

/** A loopback port nothing listens on now. */
function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data: () => undefined } })
  const port = s.port
  s.stop(true)
  return port
}

/** Polls `f` until it returns a value, for up to `ms`. */
async function eventually<T>(f: () => Promise<T | undefined>, what: string, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what} (${String(last)})`)
    await Bun.sleep(250)
  }
}

/** The sum of an instant query's values in Prometheus, or undefined while it has none. */
async function query(q: string): Promise<number | undefined> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } }
  if (body.status !== 'success' || body.data.result.length === 0) return undefined
  return body.data.result.reduce((sum, r) => sum + Number(r.value[1]), 0)
}

describe.skipIf(!PROMETHEUS || !PROMTOOL)('a real Prometheus scrapes /metrics', () => {
  beforeAll(async () => {
    t = await startTestCoordinator({}, { metricsToken: TOKEN })
    dir = mkdtempSync(join(tmpdir(), 'gridx-prometheus-'))
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 })
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: gridx',
        '    scrape_interval: 1s',
        '    scrape_timeout: 1s',
        '    authorization:',
        '      type: Bearer',
        `      credentials_file: ${join(dir, 'token')}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${t.coord.httpPort}']`,
        '',
      ].join('\n'),
    )
    const port = freePort()
    promUrl = `http://127.0.0.1:${port}`
    prom = Bun.spawn(
      [
        PROMETHEUS!,
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    )
    await eventually(
      async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined),
      'Prometheus is ready',
    )
  })
  afterAll(async () => {
    prom?.kill()
    await prom?.exited
    await t?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('it scrapes with the token file and its query API shows the jobs finished', async () => {
    // Up, with the token: a wrong one would make up 0.
    expect(
      await eventually(async () => ((await query('up{job="gridx"}')) === 1 ? 1 : undefined), 'up is 1'),
    ).toBe(1)
    const w = await connectWorker(t, worker)
    await runJobs(t, w, worker, 5)
    const finished = await eventually(
      async () => ((await query('gridx_jobs_finished_total{job="gridx"}')) === 5 ? 5 : undefined),
      'Prometheus shows 5 jobs finished',
    )
    expect(finished).toBe(5)
    expect(await query('gridx_dispatches_total{job="gridx"}')).toBe(5)
    expect(await query('gridx_job_queue_wait_seconds_count{job="gridx"}')).toBe(5)
  })

  test('promtool check metrics finds nothing to say of a scrape', async () => {
    const body = await (await scrape(t, TOKEN)).text()
    expect(body).toContain('gridx_http_request_duration_seconds_bucket')
    const check = Bun.spawn([PROMTOOL!, 'check', 'metrics'], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    void check.stdin.write(body)
    await check.stdin.end()
    const [out, err, code] = await Promise.all([
      new Response(check.stdout).text(),
      new Response(check.stderr).text(),
      check.exited,
    ])
    expect(out + err).toBe('')
    expect(code).toBe(0)
  })
})

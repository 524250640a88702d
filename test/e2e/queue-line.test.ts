// While a submitted job waits in the queue, a terminal sees one line redrawn in place (the time
// waited and the coordinator's reason), wiped when the job starts; a pipe never sees it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { BB_IMAGE, GRIDX, type Grid, gridx, startGrid } from './harness'

let grid: Grid
let alice: Record<string, string>

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
}, 60_000)

afterAll(async () => {
  await grid.close()
})

const until = async (what: () => boolean, ms: number, label: string) => {
  const deadline = Date.now() + ms
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${label}`)
    await Bun.sleep(100)
  }
}

describe('a queued job on a terminal', () => {
  test('piped: no status line at all, though the job waits', async () => {
    // No worker yet: the job waits; a few seconds of that are watched, then the client is stopped.
    const r = await gridx(['submit', '--image', BB_IMAGE, '--', 'echo', 'piped'], alice, { timeoutMs: 4000 })
    expect(r.stderr).toMatch(/gridx: job (\w+) queued \(/)
    expect(r.stderr).toContain('no worker is connected')
    expect(r.stderr).not.toContain('queued for')
    expect(r.stderr).not.toContain('\u001b[2K')
    const id = /gridx: job (\w+) queued/.exec(r.stderr)![1]!
    expect((await gridx(['cancel', id], alice)).code).toBe(0)
  }, 60_000)

  test('one status line with the reason and the time waited, wiped when the job starts', async () => {
    if (!Bun.which('script')) return console.warn('skipped: no script(1)')
    const line = [GRIDX, 'submit', '--image', BB_IMAGE, '--', 'echo', 'ran-it'].map((a) => `'${a}'`).join(' ')
    const proc = Bun.spawn(['script', '-qec', line, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...alice },
      stdin: 'pipe',
      stdout: 'pipe',
    })
    let seen = ''
    void (async () => {
      const dec = new TextDecoder()
      for await (const chunk of proc.stdout) seen += dec.decode(chunk, { stream: true })
    })()
    // No worker yet: the line says why, and its clock moves (redrawn in place).
    await until(() => /queued for [1-9][\d.]*s: no worker is connected/.test(seen), 30_000, 'the queue line')
    await until(
      () => (seen.match(/\r\u001b\[2Kgridx: job \w+ queued for/g) ?? []).length >= 3,
      30_000,
      'redraws',
    )
    await grid.worker(alice, 'w1')
    expect(await proc.exited).toBe(0)
    expect(seen).toContain('ran-it')
    // After the last drawing of the line: wiped, then the running note and the job's output.
    const last = seen.lastIndexOf('queued for')
    const after = seen.slice(last)
    expect(after.indexOf('\r\u001b[2K')).toBeGreaterThan(0)
    expect(after.indexOf('\r\u001b[2K')).toBeLessThan(after.indexOf('running on'))
    expect(after.indexOf('running on')).toBeLessThan(after.indexOf('ran-it'))
  }, 120_000)
})

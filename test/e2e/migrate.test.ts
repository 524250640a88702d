import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SQL } from 'bun'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { freshDatabase } from '../support/postgres'
import { BB_IMAGE, type Grid, gridx, type Proc, startGrid, tempDir } from './harness'

// `gridx migrate` of a grid with history, then jobs run on the new one: a real coordinator on
// SQLite with a real worker and Docker makes the history, the binary moves it into a private
// PostgreSQL, and the same coordinator started with --database carries on from it.

interface Credits {
  balanceMc: number
  escrowMc: number
  history: { kind: string; job: string | null; amountMc: number }[]
}

let grid: Grid
let alice: Record<string, string>
let bob: Record<string, string>
let worker: Proc
let url: string
let db: string
const ids: Record<string, string> = {}
const before: Record<string, unknown> = {}
let workdir: string

const credits = async (env: Record<string, string>) =>
  JSON.parse((await gridx(['credits', '--json'], env)).stdout) as Credits
const state = async (id: string) =>
  (JSON.parse((await gridx(['status', id, '--json'], alice)).stdout) as { state: string }).state
const submit = async (args: string[], opts: { cwd?: string } = {}) => {
  const r = await gridx(['submit', '--detach', '--image', BB_IMAGE, ...args], alice, opts)
  if (r.code !== 0) throw new Error(`submit failed: ${r.stderr}`)
  return r.stdout.trim()
}
const settled = async (id: string) => {
  for (let i = 0; i < 600; i++) {
    if (['succeeded', 'failed', 'cancelled'].includes(await state(id))) return
    await Bun.sleep(100)
  }
  throw new Error(`job ${id} did not end`)
}

beforeAll(async () => {
  url = await freshDatabase()
  grid = await startGrid()
  db = join(grid.home, 'coordinator', 'gridx.db')
  alice = await grid.user('alice', 'alice-password-1')
  bob = await grid.user('bob')
  worker = await grid.worker(bob, 'bobs-worker')
  workdir = tempDir('migrate-work')
  writeFileSync(join(workdir, 'in.txt'), 'an input file')
  ids['ok'] = await submit(
    ['--file', 'in.txt', '--', 'sh', '-c', 'echo hello before the move; cat in.txt > /out/copy.txt'],
    { cwd: workdir },
  )
  ids['fail'] = await submit(['--', 'sh', '-c', 'echo about to fail >&2; exit 3'])
  ids['cancel'] = await submit(['--', 'sleep', '60'])
  await settled(ids['ok'])
  await settled(ids['fail'])
  expect(await gridx(['cancel', ids['cancel']], alice)).toMatchObject({ code: 0 })
  expect(await gridx(['credits', 'grant', 'bob', '5'], alice)).toMatchObject({ code: 0 })
  // No worker: a job waits in the queue with its maximum cost in escrow, across the move.
  await worker.stop()
  ids['queued'] = await submit(['--', 'sh', '-c', 'echo ran after the move'])
  before['alice'] = await credits(alice)
  before['bob'] = await credits(bob)
  before['logs'] = (await gridx(['logs', ids['ok']], alice)).stdout
  before['jobs'] = JSON.parse((await gridx(['jobs', '--all', '--json'], alice)).stdout)
  expect((before['alice'] as Credits).escrowMc).toBeGreaterThan(0)
}, 240_000)
afterAll(async () => {
  await grid.close()
  rmSync(workdir, { recursive: true, force: true })
})

describe('gridx migrate', () => {
  test('refuses a source a running coordinator has open, and a file that is no grid', async () => {
    const r = await gridx(['migrate', '--from', db, '--to', url], {})
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('stop gridx serve first')
    const junk = join(workdir, 'junk.db')
    writeFileSync(junk, 'hello, I am not a database, only some text long enough to look like one')
    const j = await gridx(['migrate', '--from', junk, '--to', url], {})
    expect(j.code).toBe(1)
    expect(j.stderr).toContain('is not a Grid-X database (not an SQLite file)')
    // Neither touched the target.
    const pg = await openPostgres(url)
    expect(await pg.accounts.exist()).toBe(false)
    await pg.close()
  })

  test('moves the stopped grid, verified; a second run finds the target not empty', async () => {
    let moved: Awaited<ReturnType<typeof gridx>> | undefined
    let again: Awaited<ReturnType<typeof gridx>> | undefined
    let key: string | undefined
    await grid.restart(
      'SIGTERM',
      async () => {
        moved = await gridx(['migrate', '--from', db, '--to', url], {}, { timeoutMs: 120_000 })
        again = await gridx(['migrate', '--from', db, '--to', url], {})
        const lite = new Database(db, { readonly: true })
        key = lite.query<{ k: string }, []>('SELECT public_key AS k FROM workers').get()?.k
        lite.close()
      },
      ['--database', url],
    )
    expect(moved!.code, moved!.stderr).toBe(0)
    expect(moved!.stdout).toMatch(/✓ moved .*gridx\.db into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/)
    expect(moved!.stdout).toMatch(/ {2}users +2 rows/)
    expect(moved!.stdout).toMatch(/ {2}jobs +4 rows/)
    expect(moved!.stdout).toMatch(/ {2}job_output +[1-9]\d* rows/)
    expect(moved!.stdout).toContain('the audit is exact and the same on both sides')
    expect(moved!.stdout).toMatch(/stored files: [1-9]\d* \(/)
    expect(moved!.stderr).toMatch(/^transfers: \d+ rows in [\d.]+ s \(\d+ rows\/s\)$/m)
    expect(again!.code).toBe(1)
    expect(again!.stderr).toMatch(/is not empty \(it holds 2 users, 4 jobs, \d+ transfers\)/)
    // The worker's pinned key came along.
    expect(key).toBeString()
    const pg = new SQL(url, { max: 1 })
    expect((await pg`SELECT public_key FROM workers`)[0].public_key).toBe(key)
    await pg.close()
    expect(grid.serve.stderr() + grid.serve.stdout()).toContain('(PostgreSQL, shared by every coordinator')
  }, 180_000)

  test('on PostgreSQL: alice logs in with her password; balances, history, jobs and logs are as before', async () => {
    const home = tempDir('migrate-alice')
    const env = { ...grid.env(home), GRIDX_USER: 'alice', GRIDX_PASSWORD: 'alice-password-1' }
    expect(await gridx(['login'], env)).toMatchObject({ code: 0 })
    expect(await credits(env)).toEqual(before['alice'] as Credits)
    expect(await credits(bob)).toEqual(before['bob'] as Credits)
    expect(JSON.parse((await gridx(['jobs', '--all', '--json'], env)).stdout)).toEqual(before['jobs'])
    const logs = await gridx(['logs', ids['ok']!], env)
    expect(logs.stdout).toBe(before['logs'] as string)
    expect(logs.stdout).toContain('hello before the move')
    expect(await state(ids['fail']!)).toBe('failed')
    expect(await state(ids['cancel']!)).toBe('cancelled')
    // The old job's /out files are still there to download.
    const d = await gridx(['download', ids['ok']!, '--output', 'got'], env, { cwd: workdir })
    expect(d.code, d.stderr).toBe(0)
    expect(readFileSync(join(workdir, 'got', 'copy.txt'), 'utf8')).toBe('an input file')
    rmSync(home, { recursive: true, force: true })
  })

  test('the queued job runs on a worker of the new grid and settles; a new job too; the audit stays exact', async () => {
    await grid.worker(bob, 'bobs-worker')
    await settled(ids['queued']!)
    expect(await state(ids['queued']!)).toBe('succeeded')
    expect((await gridx(['logs', ids['queued']!], alice)).stdout).toBe('ran after the move\n')
    const r = await gridx(['submit', '--image', BB_IMAGE, '--', 'echo', 'new on postgres'], alice)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('new on postgres\n')
    const a = await credits(alice)
    expect(a.escrowMc).toBe(0)
    // The newest lines: the settlement of the job queued before the move, made on the new grid.
    expect(a.history.some((h) => h.job === ids['queued'] && h.kind === 'pay')).toBe(true)
    const was = before['alice'] as Credits
    expect(a.balanceMc).toBeLessThan(was.balanceMc + was.escrowMc)
    const pg = await openPostgres(url)
    expect(await pg.credits.audit()).toMatchObject({ ok: true, escrow: 0 })
    await pg.close()
  }, 120_000)
})

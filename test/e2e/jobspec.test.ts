// Issue 17's job environment, names and labels, id prefixes and `gridx wait`, through the
// compiled binary with a real coordinator and a real Docker worker.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Grid, gridx, PY_IMAGE, startGrid, tempDir } from './harness'

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
  await grid.worker(alice, 'w-jobspec', ['--slots', '3'])
  work = tempDir('jobspec')
  writeFileSync(
    join(work, 'env.py'),
    [
      'import os',
      'for k in ["GREETING", "X", "FROMFILE", "QUOTED"]: print(k, repr(os.environ.get(k)))',
      'print("PATH", os.environ["PATH"])',
      'print("JOB", os.environ["GRIDX_JOB_ID"])',
    ].join('\n'),
  )
  writeFileSync(
    join(work, 'vars.env'),
    '# settings\n\nFROMFILE=from the file\nexport QUOTED="a # b"\nX=overridden\n',
  )
  writeFileSync(join(work, 'bad.env'), 'OK=1\n\nnot a pair\n')
  writeFileSync(join(work, 'ok.py'), 'print("fine")\n')
  writeFileSync(join(work, 'three.py'), 'import sys\nprint("exiting 3")\nsys.exit(3)\n')
  writeFileSync(join(work, 'slow.py'), 'import time\nprint("sleeping", flush=True)\ntime.sleep(120)\n')
})
afterAll(async () => {
  await grid.close()
})

const run = (args: string[]) => gridx(args, alice, { cwd: work, timeoutMs: 150_000 })
const detach = async (args: string[]) => {
  const r = await run(['submit', '-d', '-q', '--image', PY_IMAGE, ...args])
  expect(r.code, r.stderr).toBe(0)
  return r.stdout.trim()
}
type Job = {
  id: string
  name: string | null
  labels: Record<string, string>
  state: string
  envNames: string[]
}

describe('environment', () => {
  test('-e and --env-file reach the job; -e wins over the file; the sandbox keeps PATH and GRIDX_JOB_ID', async () => {
    const r = await run([
      'submit',
      '-q',
      '--image',
      PY_IMAGE,
      '--env-file',
      'vars.env',
      '-e',
      'GREETING=hello world',
      '-e',
      'X=a=b',
      'env.py',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("GREETING 'hello world'\n")
    expect(r.stdout).toContain("X 'a=b'\n")
    expect(r.stdout).toContain("FROMFILE 'from the file'\n")
    expect(r.stdout).toContain("QUOTED 'a # b'\n")
    expect(r.stdout).toContain('PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n')
    expect(r.stdout).toMatch(/JOB [a-z0-9]{12}\n/)
  })

  test('GRIDX_* and the sandbox variables are refused (exit 2), as is a bad env file, naming the line', async () => {
    const reserved = await run(['submit', '--image', PY_IMAGE, '-e', 'GRIDX_ARRAY_INDEX=1', 'ok.py'])
    expect(reserved.code).toBe(2)
    expect(reserved.stderr).toContain('GRIDX_* variables are set by gridx itself')
    const path = await run(['submit', '--image', PY_IMAGE, '-e', 'PATH=/tmp', 'ok.py'])
    expect(path.code).toBe(2)
    expect(path.stderr).toContain("'PATH' is set by the worker's sandbox")
    const name = await run(['submit', '--image', PY_IMAGE, '-e', '1X=2', 'ok.py'])
    expect(name.code).toBe(2)
    expect(name.stderr).toContain('is not a valid environment variable name')
    const file = await run(['submit', '--image', PY_IMAGE, '--env-file', 'bad.env', 'ok.py', '--json'])
    expect(file.code).toBe(2)
    expect(JSON.parse(file.stdout)).toEqual({
      error: { code: 'bad_env', message: "bad.env, line 3: expected KEY=VALUE, got 'not a pair'" },
    })
  })
})

describe('names, labels, id prefixes and gridx wait', () => {
  let ok = ''
  let three = ''
  let slow = ''
  beforeAll(async () => {
    ok = await detach(['--name', 'sweep-1', '--label', 'exp=3', '--label', 'lr=0.1', 'ok.py'])
    three = await detach(['--name', 'sweep-2', '--label', 'exp=4', 'three.py'])
    slow = await detach(['--name', 'slow one', '--label', 'exp=3', 'slow.py'])
  })

  test('wait: all succeeded exits 0; one that exits 3 makes it 3; the summary names each job', async () => {
    const one = await run(['wait', ok])
    expect(one.code, one.stderr).toBe(0)
    expect(one.stdout).toMatch(new RegExp(`^${ok}  sweep-1  succeeded  0  \\d+\\.\\ds\\n$`))
    const both = await run(['wait', ok, three, '--json'])
    expect(both.code).toBe(3)
    const body = JSON.parse(both.stdout) as { ended: boolean; exitCode: number; jobs: Job[] }
    expect(body.ended).toBe(true)
    expect(body.exitCode).toBe(3)
    expect(body.jobs.map((j) => [j.id, j.state])).toEqual([
      [ok, 'succeeded'],
      [three, 'failed'],
    ])
  })

  test('wait --timeout gives up with exit code 5; a cancelled job makes it 130', async () => {
    const started = Date.now()
    const r = await run(['wait', slow, ok, '--timeout', '2s'])
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('--timeout 2s passed with 1 job(s) not ended')
    expect(r.stdout).toContain(`${slow}  slow one`)
    expect(Date.now() - started).toBeLessThan(60_000)
    const cancelled = await run(['cancel', slow])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    const after = await run(['wait', slow])
    expect(after.code).toBe(130)
    expect(after.stdout).toContain('cancelled')
  })

  test('jobs: live only by default, --all for finished; --name glob and --label filters AND-ed', async () => {
    const list = async (args: string[]) => {
      const r = await run(['jobs', '--json', ...args])
      expect(r.code, r.stderr).toBe(0)
      return (JSON.parse(r.stdout) as Job[]).map((j) => j.id)
    }
    // Every job above has ended (the slow one was cancelled).
    expect(await list([])).toEqual([])
    expect(await list(['--all', '--name', 'sweep*'])).toEqual([three, ok])
    expect(await list(['--all', '--name', 'sweep*', '--label', 'exp=3'])).toEqual([ok])
    expect(await list(['--all', '--label', 'exp=3'])).toEqual([slow, ok])
    expect(await list(['--all', '--label', 'exp=3', '--label', 'lr=0.1'])).toEqual([ok])
    expect(await list(['--state', 'failed,cancelled'])).toEqual([slow, three])
    const table = await run(['jobs', '--all', '--name', 'sweep-1'])
    expect(table.stdout).toMatch(/ID +STATE +EXIT +NAME +LABELS/)
    expect(table.stdout).toContain('exp=3,lr=0.1')
    const bad = await run(['jobs', '--state', 'done'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--state takes queued, assigned, running')
  })

  test('a unique id prefix works for status and logs; an ambiguous one exits 2 listing the candidates', async () => {
    expect((await run(['wait', ok])).code).toBe(0)
    // Every job of alice's, the environment tests' too: a prefix must be unique among them all.
    const ids = (JSON.parse((await run(['jobs', '--all', '--json'])).stdout) as Job[]).map((j) => j.id)
    expect(ids).toContain(ok)
    // The shortest prefix of `ok` that no other job of alice's starts with (at least 4 characters).
    let n = 4
    while (ids.some((id) => id !== ok && id.startsWith(ok.slice(0, n)))) n++
    const status = await run(['status', ok.slice(0, n), '--json'])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({
      id: ok,
      name: 'sweep-1',
      labels: { exp: '3', lr: '0.1' },
    })
    const logs = await run(['logs', ok.slice(0, n)])
    expect(logs.stdout).toBe('fine\n')
    const text = await run(['status', ok.slice(0, n)])
    expect(text.stdout).toContain('  name     sweep-1\n')
    // The ids of one coordinator grow with time: jobs submitted together share their first characters.
    let common = 0
    while (ok[common] === three[common]) common++
    expect(common).toBeGreaterThanOrEqual(4)
    const ambiguous = await run(['status', ok.slice(0, common)])
    expect(ambiguous.code).toBe(2)
    expect(ambiguous.stderr).toContain('matches several of your jobs')
    expect(ambiguous.stderr).toContain(ok)
    expect(ambiguous.stderr).toContain(three)
    const unknown = await run(['status', 'zzzz9999'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no job 'zzzz9999' among yours")
  })

  test('status and cancel take several ids; a bad one is reported and the others still run', async () => {
    const r = await run(['status', ok, three, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as Job[]).map((j) => j.id)).toEqual([ok, three])
    const c = await run(['cancel', ok, 'nope1234', three])
    expect(c.code).toBe(1)
    expect(c.stderr).toContain(`job ${ok} had already ended: succeeded`)
    expect(c.stderr).toContain('nope1234: no job')
    expect(c.stderr).toContain(`job ${three} had already ended: failed`)
  })

  test('logs print the same for a finished job as while it ran, and -f returns its exit code', async () => {
    const r = await run(['logs', three])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('exiting 3\n')
    const f = await run(['logs', '-f', three])
    expect(f.code).toBe(3)
    expect(f.stdout).toBe('exiting 3\n')
  })
})

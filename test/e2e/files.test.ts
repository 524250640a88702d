import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BB_IMAGE, type Grid, gridx, PY_IMAGE, startGrid, tempDir } from './harness'

// Files in (--file, a project directory) and out (/out to ./gridx-out/ID, gridx download), and
// the owner's policy deciding what a worker is offered. Real coordinator, worker and Docker.

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid(['--max-input', '80m', '--max-output', '80m'])
  alice = await grid.user('alice')
  await grid.worker(alice, 'w-files', ['--max-timeout', '15m', '--max-disk', '60m'])
  work = tempDir('files')
})
afterAll(async () => {
  await grid.close()
})

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
const run = (args: string[], cwd = work) => gridx(args, alice, { cwd, timeoutMs: 120_000 })
const jobIdOf = (stderr: string) => /job ([a-z0-9]+) queued/.exec(stderr)![1]!

describe('files in and out', () => {
  test('a 50 MB input and output round-trip byte for byte', async () => {
    const big = randomBytes(50 * 1024 * 1024)
    writeFileSync(join(work, 'big.bin'), big)
    const r = await run([
      'submit',
      '--image',
      BB_IMAGE,
      '--file',
      'big.bin',
      '--',
      'sh',
      '-c',
      'sha256sum big.bin; cp big.bin "$GRIDX_OUTPUT/copy.bin"',
    ])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`${sha256(big)}  big.bin\n`)
    const id = jobIdOf(r.stderr)
    expect(r.stderr).toContain(`saved 1 file(s), 50 MiB, to gridx-out/${id}/`)
    expect(sha256(readFileSync(join(work, 'gridx-out', id, 'copy.bin')))).toBe(sha256(big))
  }, 180_000)

  test('--file with directories, nested /out results, and gridx download later', async () => {
    mkdirSync(join(work, 'data/sub'), { recursive: true })
    writeFileSync(join(work, 'data/a.csv'), 'x,y\n1,2\n')
    writeFileSync(join(work, 'data/sub/b.txt'), 'deep')
    writeFileSync(join(work, 'notes.txt'), 'note')
    writeFileSync(
      join(work, 'io.py'),
      [
        'import os',
        'print(sorted(os.listdir(".")))',
        'out = os.environ["GRIDX_OUTPUT"]',
        'os.makedirs(out + "/res/deeper", exist_ok=True)',
        'open(out + "/res/deeper/r.txt", "w").write(open("data/sub/b.txt").read() + open("notes.txt").read())',
        'open("/out/top.txt", "w").write("top")',
      ].join('\n'),
    )
    const r = await run([
      'submit',
      '--image',
      PY_IMAGE,
      'io.py',
      '--file',
      'data/',
      '--file',
      'notes.txt',
      '-o',
      'res1',
    ])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("['data', 'io.py', 'notes.txt']\n")
    expect(readFileSync(join(work, 'res1/res/deeper/r.txt'), 'utf8')).toBe('deepnote')
    expect(readFileSync(join(work, 'res1/top.txt'), 'utf8')).toBe('top')
    const id = jobIdOf(r.stderr)
    const d = await run(['download', id, '--output', 'again'])
    expect(d.code).toBe(0)
    expect(readFileSync(join(work, 'again/res/deeper/r.txt'), 'utf8')).toBe('deepnote')
    const st = await run(['status', id])
    expect(st.stdout).toMatch(/outputs +2 file\(s\)/)
    expect(st.stdout).toMatch(/inputs +/)
    // CPU time is sampled about once a second: a job this short may end before the first sample.
    expect(st.stdout).toMatch(/used +wall [\d.]+ s, CPU ([\d.]+ s|not measured), peak memory/)
  })

  test('a project directory with --entry runs from its top', async () => {
    const proj = join(work, 'proj')
    mkdirSync(join(proj, 'lib'), { recursive: true })
    writeFileSync(join(proj, 'lib/util.py'), 'def greet(): return "hello from lib"\n')
    writeFileSync(
      join(proj, 'main.py'),
      'import sys\nfrom lib.util import greet\nprint(greet(), sys.argv[1:])\n',
    )
    const r = await run(['submit', '-q', '--image', PY_IMAGE, 'proj', '--entry', 'main.py', '--', 'a1'])
    expect(r.stdout).toBe("hello from lib ['a1']\n")
    expect(r.code).toBe(0)
    const missing = await run(['submit', '--image', PY_IMAGE, 'proj'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(
      "say which script in it to run with --entry, e.g. 'gridx submit proj --entry main.py'",
    )
  })

  test('links and escapes in /out never write outside ./gridx-out/ID', async () => {
    const dir = join(work, 'escape')
    mkdirSync(dir)
    const script = [
      'ln -s /etc/passwd /out/pw',
      'ln -s / /out/root',
      'ln -s .. /out/up',
      'mkdir /out/d && ln -s /etc /out/d/etc',
      'echo safe > /out/safe.txt',
    ].join('; ')
    const r = await run(['submit', '--image', BB_IMAGE, '--', 'sh', '-c', script], dir)
    expect(r.code).toBe(0)
    const id = jobIdOf(r.stderr)
    expect(readdirSync(dir)).toEqual(['gridx-out'])
    expect(readdirSync(join(dir, 'gridx-out'))).toEqual([id])
    expect(readdirSync(join(dir, 'gridx-out', id)).sort()).toEqual(['d', 'safe.txt'])
    expect(readdirSync(join(dir, 'gridx-out', id, 'd'))).toEqual([])
    for (const link of ['pw', 'root', 'up', 'd/etc'])
      expect(r.stderr).toContain(`/out/${link} was not returned`)
  })

  test('an input over the coordinator limit is refused before anything runs', async () => {
    writeFileSync(join(work, 'huge.bin'), randomBytes(81 * 1024 * 1024))
    const r = await run(['submit', '--image', BB_IMAGE, '--file', 'huge.bin', '--', 'true'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the input files hold more than 80 MiB, the most allowed')
    const missing = await run(['submit', '--image', BB_IMAGE, '--file', 'nope.csv', '--', 'true'])
    expect(missing.stderr).toContain(`input 'nope.csv' not found`)
  }, 120_000)

  test("files larger than the job's memory are refused before uploading, saying how much to ask for", async () => {
    writeFileSync(join(work, 'ten.bin'), randomBytes(10 * 1024 * 1024))
    const r = await run(['submit', '--image', BB_IMAGE, '--memory', '8m', '--file', 'ten.bin', '--', 'true'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("the job's files (10 MiB) do not fit in the 8 MiB of memory it asks for")
    expect(r.stderr).not.toContain('uploaded')
    // With room for them, the same files are in the working directory, byte for byte.
    const roomy = '-q --memory 64m --file ten.bin -- sha256sum ten.bin'.split(' ')
    const ok = await run(['submit', '--image', BB_IMAGE, ...roomy])
    expect(ok.code).toBe(0)
    const local = Bun.spawnSync(['sha256sum', join(work, 'ten.bin')])
      .stdout.toString()
      .split(' ')[0]
    expect(ok.stdout).toBe(`${local}  ten.bin\n`)
  })
})

describe("the worker owner's policy", () => {
  test('jobs outside the policy are never offered to the worker, and status says why they wait', async () => {
    const long = await run(['submit', '--detach', '--image', BB_IMAGE, '--timeout', '20m', '--', 'true'])
    const other = await run(['submit', '--detach', '--image', 'ubuntu:24.04', '--', 'true'])
    writeFileSync(join(work, 'seventy.bin'), randomBytes(70 * 1024 * 1024))
    const big = await run([
      'submit',
      '--detach',
      '--image',
      BB_IMAGE,
      '--memory',
      '256m',
      '--file',
      'seventy.bin',
      '--',
      'true',
    ])
    const bigId = big.stdout.trim()
    const longId = long.stdout.trim()
    const otherId = other.stdout.trim()
    // A job inside the policy submitted after them runs at once.
    const ok = await run(['submit', '-q', '--image', BB_IMAGE, '--', 'echo', 'fits'])
    expect(ok.stdout).toBe('fits\n')
    const s1 = JSON.parse((await run(['status', longId, '--json'])).stdout)
    const s2 = JSON.parse((await run(['status', otherId, '--json'])).stdout)
    expect(s1.state).toBe('queued')
    expect(s1.waiting).toContain('no connected worker runs jobs longer than 15m00s')
    expect(s2.state).toBe('queued')
    expect(s2.waiting).toContain('no connected worker runs image ubuntu:24.04')
    expect(s2.attempts).toEqual([])
    const s3 = JSON.parse((await run(['status', bigId, '--json'])).stdout)
    expect(s3.state).toBe('queued')
    expect(s3.waiting).toContain(
      "no connected worker's working directory holds the job's 70.0 MiB of files (the largest is 60 MiB",
    )
    expect(s3.attempts).toEqual([])
    await run(['cancel', bigId])
    await run(['cancel', longId])
    await run(['cancel', otherId])
    const w = await run(['workers'])
    expect(w.stdout).toMatch(/w-files .* 15m00s\s+gridx-local\/\*/)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Grid, gridx, PY_IMAGE, BB_IMAGE, startGrid, tempDir } from './harness'

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
  await grid.worker(alice, 'w-alice')
  work = tempDir('scripts')
  writeFileSync(
    join(work, 'job.py'),
    [
      'import sys, time',
      'print("out:", " ".join(sys.argv[1:]), flush=True)',
      'print("err: to stderr", file=sys.stderr, flush=True)',
      'print("last line")',
      'sys.exit(3)',
    ].join('\n'),
  )
  writeFileSync(join(work, 'net.py'), 'import os\nprint(",".join(sorted(os.listdir("/sys/class/net"))))\n')
})
afterAll(async () => {
  await grid.close()
})

describe('gridx submit through the compiled binary', () => {
  test('streams stdout and stderr on their own streams and exits with the job exit code', async () => {
    const r = await gridx(['submit', '--image', PY_IMAGE, 'job.py', '--', 'one', 'two words'], alice, {
      cwd: work,
    })
    expect(r.code).toBe(3)
    expect(r.stdout).toBe('out: one two words\nlast line\n')
    expect(r.stderr).toContain('err: to stderr\n')
    expect(r.stderr).not.toContain('out: one')
  })

  test('a job sees only the loopback interface', async () => {
    const r = await gridx(['submit', '--quiet', '--image', PY_IMAGE, 'net.py'], alice, { cwd: work })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('lo')
  })

  test('--image with a command runs any command', async () => {
    const r = await gridx(
      ['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo hi from $(id -u); exit 7'],
      alice,
    )
    expect(r.stdout).toBe('hi from 65534\n')
    expect(r.code).toBe(7)
  })

  test('a command the image lacks ends the job at once with exit 127, saying so', async () => {
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'no-such-tool', '--flag'], alice)
    expect(r.code).toBe(127)
    expect(r.stderr).toContain('gridx: no-such-tool: command not found in the image (PATH=')
  })

  test('the root file system is read-only; the working directory and /tmp are writable', async () => {
    const script =
      'echo x > /etc/x 2>/dev/null && echo root-writable; echo a > out.txt && cat out.txt; echo b > /tmp/t && cat /tmp/t; pwd'
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', script], alice)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('a\nb\n/gridx/job\n')
  })

  test('--timeout stops the job and says so', async () => {
    const r = await gridx(['submit', '--image', BB_IMAGE, '--timeout', '2s', '--', 'sleep', '60'], alice)
    expect(r.code).toBe(124)
    expect(r.stderr).toMatch(/timed out/)
  })

  test('--memory is enforced by the container', async () => {
    const r = await gridx(
      [
        'submit',
        '-q',
        '--image',
        BB_IMAGE,
        '--memory',
        '64m',
        '--',
        'cat',
        '/sys/fs/cgroup/memory/memory.limit_in_bytes',
      ],
      alice,
    )
    expect(r.code).toBe(0)
    expect(Number(r.stdout.trim())).toBe(64 * 1024 * 1024)
  })

  test('--detach, then jobs, status, logs and cancel work on the job', async () => {
    const d = await gridx(
      ['submit', '--detach', '--image', BB_IMAGE, '--', 'sh', '-c', 'echo started; sleep 60'],
      alice,
    )
    expect(d.code).toBe(0)
    const id = d.stdout.trim()
    expect(id).toMatch(/^[a-z2-9]{12}$/)
    const list = await gridx(['jobs', '--all', '--json'], alice)
    expect((JSON.parse(list.stdout) as { id: string }[]).map((j) => j.id)).toContain(id)
    // wait until it runs and printed its line
    for (let i = 0; i < 100; i++) {
      const l = await gridx(['logs', id], alice)
      if (l.stdout.includes('started')) break
      await Bun.sleep(100)
    }
    const st = await gridx(['status', id, '--json'], alice)
    expect(JSON.parse(st.stdout).state).toBe('running')
    const follow = gridx(['logs', '-f', id], alice)
    const c = await gridx(['cancel', id], alice)
    expect(c.code).toBe(0)
    expect(c.stderr).toContain('cancelled')
    const f = await follow
    expect(f.stdout).toContain('started')
    expect(f.code).toBe(130)
    const after = await gridx(['status', id, '--json'], alice)
    expect(JSON.parse(after.stdout).state).toBe('cancelled')
    // the container is gone within a few seconds
    let left = 'x'
    for (let i = 0; i < 50 && left; i++) {
      left = (await Bun.$`docker ps -aq --filter label=gridx.job=${id}`.text()).trim()
      if (left) await Bun.sleep(100)
    }
    expect(left).toBe('')
  })

  test('the signed receipt verifies offline, and one flipped byte makes it fail', async () => {
    const d = await gridx(['submit', '--detach', '--image', BB_IMAGE, '--', 'echo', 'signed'], alice)
    const id = d.stdout.trim()
    await gridx(['logs', '-f', id], alice)
    const r = await gridx(['status', id, '--receipt'], alice)
    expect(r.code).toBe(0)
    const file = join(work, `receipt-${id}.json`)
    writeFileSync(file, r.stdout)
    const ok = await gridx(['verify', file], alice)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain(`✓ signed by worker w-alice`)
    expect(ok.stdout).toContain(`job ${id} attempt 1: exited, exit 0`)
    const receipt = JSON.parse(r.stdout) as { body: string }
    const body = JSON.parse(receipt.body) as { stdoutSha256: string }
    expect(body.stdoutSha256).toBe(new Bun.CryptoHasher('sha256').update('signed\n').digest('hex'))
    writeFileSync(
      file,
      JSON.stringify({ ...JSON.parse(r.stdout), body: receipt.body.replace('"exitCode":0', '"exitCode":1') }),
    )
    const bad = await gridx(['verify', file], alice)
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain('does NOT verify')
  })

  test('an image the worker lacks gives a clear error', async () => {
    const r = await gridx(['submit', '--image', 'gridx-local/no-such-image:1', '--', 'true'], alice)
    expect(r.code).toBe(125)
    expect(r.stderr).toMatch(/image 'gridx-local\/no-such-image:1' could not be pulled on the worker/)
  })

  test('an unknown job id gives a clear error', async () => {
    const r = await gridx(['status', 'nosuchjob000'], alice)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no job 'nosuchjob000' among yours/)
  })
})

describe('accounts and isolation between users', () => {
  test("a user cannot read or cancel another user's job", async () => {
    const bob = await grid.user('bob')
    const d = await gridx(['submit', '--detach', '--image', BB_IMAGE, '--', 'sleep', '5'], alice)
    const id = d.stdout.trim()
    for (const cmd of [
      ['status', id],
      ['logs', id],
      ['cancel', id],
    ]) {
      const r = await gridx(cmd, bob)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`no job '${id}' among yours`)
    }
    const mine = await gridx(['jobs', '--all', '--json'], bob)
    expect(JSON.parse(mine.stdout)).toEqual([])
    await gridx(['cancel', id], alice)
  })

  test('the token is saved with mode 0600 and never the password', async () => {
    const file = Bun.file(join(alice['GRIDX_HOME']!, 'credentials.json'))
    const { statSync } = await import('node:fs')
    expect(statSync(join(alice['GRIDX_HOME']!, 'credentials.json')).mode & 0o777).toBe(0o600)
    const text = await file.text()
    expect(text).toContain('gx_')
    expect(text).not.toContain(alice['GRIDX_PASSWORD']!)
  })

  test('wrong password on work exits at once, naming the cause', async () => {
    const t0 = Date.now()
    const r = await gridx(
      ['work', '--user', 'alice', '--password', 'not-the-password'],
      grid.env(tempDir('wrong')),
    )
    expect(r.code).not.toBe(0)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(r.stderr).toMatch(/wrong user name or password for 'alice'/)
    expect(r.stderr).not.toMatch(/ready|waiting for jobs/)
  })

  test('submit without login says how to log in', async () => {
    const r = await gridx(['submit', '--image', BB_IMAGE, '--', 'true'], grid.env(tempDir('anon')))
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/not logged in to http:\/\/127\.0\.0\.1:\d+: run 'gridx login/)
  })
})

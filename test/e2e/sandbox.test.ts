import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BB_IMAGE, type Grid, gridx, PY_IMAGE, startGrid, tempDir } from './harness'

// A stranger's code against the sandbox, through the compiled binary and real Docker. Every
// job must end with a clear status, and the host must not notice.

const LOG_LIMIT = 1024 * 1024
let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid(['--log-limit', '1m'])
  alice = await grid.user('alice')
  // A host variable that must never reach a job.
  await grid.worker({ ...alice, GRIDX_TEST_HOST_SECRET: 'leaked' }, 'w-sandbox', [
    '--slots',
    '2',
    '--max-disk',
    '100m',
  ])
  work = tempDir('sandbox')
})
afterAll(async () => {
  await grid.close()
})

const py = (name: string, lines: string[]) => writeFileSync(join(work, name), lines.join('\n'))
const submitPy = (script: string, extra: string[] = []) =>
  gridx(['submit', '--image', PY_IMAGE, ...extra, script], alice, { cwd: work, timeoutMs: 90_000 })
const sh = (script: string, extra: string[] = []) =>
  gridx(['submit', '--image', BB_IMAGE, ...extra, '--', 'sh', '-c', script], alice, {
    cwd: work,
    timeoutMs: 90_000,
  })
const statusOf = async (id: string) => {
  const r = await gridx(['status', id, '--json'], alice)
  return JSON.parse(r.stdout) as {
    state: string
    outcome: string
    exitCode: number | null
    error: string | null
    usage: { wallMs: number; cpuMs: number | null; peakMemoryBytes: number | null } | null
  }
}
/** The parts of `docker inspect` the isolation test reads. */
interface Inspect {
  Path: string
  Args: string[]
  Config: { NetworkDisabled: boolean; User: string; Labels: Record<string, string>; Env: string[] }
  HostConfig: {
    NetworkMode: string
    ReadonlyRootfs: boolean
    CapDrop: string[]
    CapAdd: string[] | null
    SecurityOpt: string[]
    Privileged: boolean
    Memory: number
    MemorySwap: number
    NanoCpus: number
    PidsLimit: number
    Init: boolean
    Tmpfs: Record<string, string>
    Ulimits: { Name: string; Hard: number }[]
  }
  State: { Pid: number }
  Mounts: { Type: string; Destination: string }[]
}
const jobIdOf = (stderr: string) => /job ([a-z0-9]+) queued/.exec(stderr)![1]!

describe('resource limits', () => {
  test('fork bomb: forks fail at the process limit, the job ends, the host can still fork', async () => {
    py('forks.py', [
      'import os, time',
      'n = 0',
      'try:',
      '    while n < 5000:',
      '        if os.fork() == 0:',
      '            time.sleep(60)',
      '            os._exit(0)',
      '        n += 1',
      'except OSError as e:',
      '    print("fork failed after", n, e.strerror)',
    ])
    const r = await submitPy('forks.py', ['--timeout', '60s'])
    const m = /fork failed after (\d+) Resource temporarily unavailable/.exec(r.stdout)
    expect(m).not.toBeNull()
    expect(Number(m![1])).toBeLessThan(512)
    expect(r.code).toBe(0)
    expect(Bun.spawnSync(['true']).exitCode).toBe(0)
  })

  test('shell fork bomb: contained by the process limit and killed at the timeout', async () => {
    const r = await sh('b() { b | b & }; b; sleep 60', ['--timeout', '4s'])
    expect(r.code).toBe(124)
    expect(r.stderr).toContain('timed out')
    expect(Bun.spawnSync(['true']).exitCode).toBe(0)
  })

  test('memory hog: killed by the kernel, reported as out of memory with the peak it reached', async () => {
    py('hog.py', ['x = []', 'while True:', '    x.append(bytearray(8 * 1024 * 1024))'])
    const r = await submitPy('hog.py', ['--memory', '64m'])
    expect(r.code).toBe(137)
    expect(r.stderr).toContain('ran out of memory')
    const s = await statusOf(jobIdOf(r.stderr))
    expect(s.outcome).toBe('oom')
    expect(s.state).toBe('failed')
    expect(s.usage?.peakMemoryBytes ?? 0).toBeGreaterThan(32 * 1024 * 1024)
  })

  test('infinite loop: killed at the timeout, its CPU time recorded', async () => {
    py('spin.py', ['while True:', '    pass'])
    const r = await submitPy('spin.py', ['--timeout', '3s'])
    expect(r.code).toBe(124)
    const s = await statusOf(jobIdOf(r.stderr))
    expect(s.outcome).toBe('timeout')
    expect(s.usage!.wallMs).toBeGreaterThanOrEqual(2900)
    // Under a loaded machine the loop gets less than its full CPU; it must still be measured.
    expect(s.usage!.cpuMs ?? 0).toBeGreaterThan(100)
  })

  test('1 GB of stdout: cut at the log limit, the job stopped and marked so', async () => {
    const r = await sh('head -c 1073741824 /dev/zero | tr "\\0" x')
    expect(r.stdout.length, `stdout was not cut at the cap; stderr: ${r.stderr}`).toBe(LOG_LIMIT)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('hit the output limit')
    expect((await statusOf(jobIdOf(r.stderr))).outcome).toBe('output_limit')
  })

  test('filling /tmp: ENOSPC inside, the host disk untouched', async () => {
    const before = statfsSync('/')
    const r = await sh('dd if=/dev/zero of=/tmp/fill bs=1M count=600 2>&1; df -m /tmp | tail -1')
    const after = statfsSync('/')
    expect(r.stdout).toContain('No space left on device')
    const freedMb = ((before.bavail - after.bavail) * before.bsize) / 1024 / 1024
    expect(freedMb).toBeLessThan(200)
  })

  test("filling the working directory: ENOSPC inside at the owner's --max-disk, the host disk untouched", async () => {
    const before = statfsSync('/')
    const r = await sh('dd if=/dev/zero of=fill bs=1M count=300 2>&1; df -m . | tail -1; echo done', [
      '--memory',
      '512m',
    ])
    const after = statfsSync('/')
    expect(r.stdout).toContain('No space left on device')
    expect(r.stdout).toMatch(/tmpfs\s+100\s+100\s+0\s+100%\s+\/gridx\/job/)
    expect(r.stdout).toContain('done')
    expect(r.code).toBe(0)
    const usedMb = ((before.bavail - after.bavail) * before.bsize) / 1024 / 1024
    expect(usedMb).toBeLessThan(50)
  })

  test('the working directory is memory: filling it past --memory is an out-of-memory kill', async () => {
    const r = await sh('dd if=/dev/zero of=fill bs=1M count=90 && echo wrote-all', ['--memory', '48m'])
    expect(r.stdout).not.toContain('wrote-all')
    expect(r.stderr).toContain('memory limit')
    expect((await statusOf(jobIdOf(r.stderr))).outcome).toBe('oom')
  })

  test("filling /out: stopped past the owner's --max-disk, marked output limit", async () => {
    const r = await sh(
      'i=0; while [ $i -lt 40 ]; do dd if=/dev/zero of=/out/f$i bs=1M count=10 2>/dev/null; i=$((i+1)); sleep 0.2; done; echo wrote all',
    )
    expect(r.stdout).not.toContain('wrote all')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("wrote more than 100 MiB to /out, the most this worker's owner allows")
    expect((await statusOf(jobIdOf(r.stderr))).outcome).toBe('output_limit')
  })
  test('/out filled through files deleted while open: still counted, and stopped', async () => {
    const r = await sh(
      'exec 3>/out/hidden; rm /out/hidden; dd if=/dev/zero bs=1M count=150 >&3 2>/dev/null; sleep 10; echo slept',
    )
    expect(r.stdout).not.toContain('slept')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("wrote more than 100 MiB to /out, the most this worker's owner allows")
  })

  test('/out with more files than can come back: stopped, however small they are', async () => {
    const r = await sh('i=0; while [ $i -lt 12000 ]; do : > /out/f$i; i=$((i+1)); done; sleep 10; echo slept')
    expect(r.stdout).not.toContain('slept')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      'left more than 10000 files in /out, the most that can come back, and was stopped',
    )
    expect((await statusOf(jobIdOf(r.stderr))).outcome).toBe('output_limit')
  })
})

describe('isolation', () => {
  test('writing to / fails; mount, unshare and raw sockets are refused', async () => {
    const r = await sh(
      [
        'touch /evil 2>&1 || echo root:denied',
        'mount -t tmpfs none /tmp 2>&1 || echo mount:denied',
        'unshare -U true 2>&1 || echo unshare:denied',
        'unshare -n true 2>&1 || echo unshare-net:denied',
      ].join('; '),
    )
    for (const what of ['root', 'mount', 'unshare', 'unshare-net'])
      expect(r.stdout).toContain(`${what}:denied`)
    expect(r.stdout).toContain('Read-only file system')
    py('raw.py', [
      'import socket',
      'for fam, kind, proto in [(socket.AF_PACKET, socket.SOCK_RAW, 0), (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)]:',
      '    try:',
      '        socket.socket(fam, kind, proto)',
      '        print("raw socket opened")',
      '    except PermissionError:',
      '        print("raw:denied")',
    ])
    const raw = await submitPy('raw.py')
    expect(raw.stdout).toBe('raw:denied\nraw:denied\n')
  })

  test("neither the worker's nor the submitter's environment reaches a job; only lo exists", async () => {
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'env'], {
      ...alice,
      GRIDX_SECRET_PROBE: 'leaked',
    })
    const names = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0])
      .sort()
    expect(names).toEqual([
      'GRIDX_JOB_ID',
      'GRIDX_OUTPUT',
      'HOME',
      'HOSTNAME',
      'LANG',
      'PATH',
      'PYTHONUNBUFFERED',
    ])
    expect(r.stdout).not.toContain('leaked')
    expect((await sh('ls /sys/class/net')).stdout).toBe('lo\n')
  })

  test('docker inspect of a running job shows every isolation setting', async () => {
    const sub = await gridx(
      ['submit', '--detach', '--image', BB_IMAGE, '--cpus', '0.5', '--memory', '128m', '--', 'sleep', '30'],
      alice,
    )
    const id = sub.stdout.trim()
    let container = ''
    for (let i = 0; i < 100 && !container; i++) {
      const ps = Bun.spawnSync(['docker', 'ps', '-q', '--filter', `label=gridx.job=${id}`])
      container = ps.stdout.toString().trim()
      if (!container) await Bun.sleep(100)
    }
    expect(container).not.toBe('')
    const info = (
      JSON.parse(Bun.spawnSync(['docker', 'inspect', container]).stdout.toString()) as Inspect[]
    )[0]!
    const hc = info.HostConfig
    expect(hc.NetworkMode).toBe('none')
    expect(info.Config.NetworkDisabled).toBe(true)
    expect(hc.ReadonlyRootfs).toBe(true)
    expect(hc.CapDrop).toEqual(['ALL'])
    expect(hc.CapAdd).toBeNull()
    expect(hc.SecurityOpt).toEqual(['no-new-privileges'])
    expect(hc.Privileged).toBe(false)
    expect(info.Config.User).toBe('65534:65534')
    expect(hc.Memory).toBe(128 * 1024 * 1024)
    expect(hc.MemorySwap).toBe(hc.Memory)
    expect(hc.NanoCpus).toBe(500_000_000)
    expect(hc.PidsLimit).toBe(512)
    expect(hc.Init).toBe(true)
    expect(hc.Tmpfs['/tmp']).toContain('size=256m')
    // The working directory: a tmpfs of the owner's --max-disk (100m), the job's own.
    expect(hc.Tmpfs['/gridx/job']).toContain(`size=${100 * 1024 * 1024}`)
    expect(hc.Tmpfs['/gridx/job']).toContain('uid=65534')
    expect(hc.Tmpfs['/gridx/job']).toContain('nr_inodes=')
    // The stage program copies the job's files in, then becomes the job.
    expect(info.Path).toBe('/gridx/bin/stage')
    expect(info.Args).toEqual(['/gridx/in', '/gridx/job', '--', 'sleep', '30'])
    const ulimits = Object.fromEntries(hc.Ulimits.map((u) => [u.Name, u.Hard]))
    expect(ulimits).toEqual({ nofile: 1024, core: 0, fsize: 1024 ** 3 })
    expect(info.Config.Labels['gridx.job']).toBe(id)
    expect(info.Config.Env.some((e) => e.includes('leaked'))).toBe(false)
    // The default seccomp profile stays on: nothing turns it off, and the kernel shows it.
    expect(JSON.stringify(hc.SecurityOpt)).not.toContain('seccomp')
    const pid = String(info.State.Pid)
    const procStatus = await Bun.file(`/proc/${pid}/status`).text()
    expect(procStatus).toMatch(/Seccomp:\s+2/)
    expect(procStatus).toMatch(/NoNewPrivs:\s+1/)
    expect(procStatus).toMatch(/CapEff:\s+0000000000000000/)
    const mountinfo = await Bun.file(`/proc/${pid}/mountinfo`).text()
    expect(mountinfo).toMatch(
      / \/gridx\/job rw,nosuid,nodev,relatime .* tmpfs tmpfs rw,size=102400k,nr_inodes=262144,mode=700,uid=65534,gid=65534/,
    )
    // No host directory is mounted: only the job's own anonymous volumes (staging and /out).
    expect(info.Mounts.map((m) => m.Destination).sort()).toEqual(['/gridx/in', '/out'])
    for (const m of info.Mounts) expect(m.Type).toBe('volume')
    await gridx(['cancel', id], alice)
  })
})

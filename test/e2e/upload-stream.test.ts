// Input files stream from disk: a 200 MB upload keeps the client's memory small, and a terminal
// sees a progress line (bytes, share, rate) that a pipe never does.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { BB_IMAGE, GRIDX, type Grid, gridx, startGrid, tempDir } from './harness'

const MB = 1024 * 1024
let grid: Grid
let alice: Record<string, string>
let dir: string
let big: string

/** Writes `mb` MiB of varied bytes in 1 MiB chunks (the test itself holds 1 MiB at a time). */
function writeBig(path: string, mb: number): void {
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(MB)
  for (let i = 0; i < mb; i++) {
    chunk.fill(i % 251)
    writeSync(fd, chunk)
  }
  closeSync(fd)
}

/** Peak resident memory (VmHWM, kB) of a process, while it runs. */
function peakKb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

const submitArgs = (...flags: string[]) => [
  'submit',
  ...flags,
  '--detach',
  '--memory',
  '1g',
  '--file',
  big,
  '--image',
  BB_IMAGE,
  '--',
  'true',
]

beforeAll(async () => {
  grid = await startGrid(['--max-input', '300m'])
  alice = await grid.user('alice')
  dir = tempDir('upload')
  big = join(dir, 'big.bin')
  writeBig(big, 200)
}, 120_000)

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await grid.close()
})

describe('uploading 200 MB of input files', () => {
  test('the client stays under 100 MB of resident memory', async () => {
    const proc = Bun.spawn([GRIDX, ...submitArgs('-q')], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...alice },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    let peak = 0
    while (proc.exitCode === null) {
      peak = Math.max(peak, peakKb(proc.pid) ?? 0)
      await Bun.sleep(20)
    }
    const [code, stderr] = [await proc.exited, await new Response(proc.stderr).text()]
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    console.log(`client peak RSS uploading 200 MiB: ${Math.round(peak / 1024)} MiB`)
    // The job holds the archive: all 200 MiB arrived.
    const id = (await new Response(proc.stdout).text()).trim()
    const job = JSON.parse((await gridx(['status', id, '--json'], alice)).stdout) as {
      inputs: { bytes: number } | null
    }
    expect(job.inputs?.bytes).toBeGreaterThan(200 * MB)
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThan(100 * 1024)
  }, 120_000)

  test('a terminal sees the progress line; a pipe and -q do not', async () => {
    if (!Bun.which('script')) return console.warn('skipped: no script(1)')
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...alice }
    const line = [GRIDX, ...submitArgs()].map((a) => `'${a}'`).join(' ')
    const tty = Bun.spawnSync(['script', '-qec', line, '/dev/null'], { env, stdout: 'pipe', stderr: 'pipe' })
    const seen = tty.stdout.toString()
    expect(tty.exitCode).toBe(0)
    // Redrawn in place (carriage return, erase line), up to the whole, with a rate.
    expect(seen).toMatch(/\r\u001b\[2Kgridx: uploading [\d.]+ \w?i?B of 200 MiB \(\d+%\), [\d.]+ \w?i?B\/s/)
    expect(seen).toContain('of 200 MiB (100%)')
    expect(seen).toContain('gridx: uploaded 1 input file(s), 200.0 MiB')
    const quiet = [GRIDX, ...submitArgs('-q')].map((a) => `'${a}'`).join(' ')
    const quietTty = Bun.spawnSync(['script', '-qec', quiet, '/dev/null'], { env, stdout: 'pipe' })
    expect(quietTty.stdout.toString()).not.toContain('uploading')
    const piped = await gridx(submitArgs(), alice)
    expect(piped.code).toBe(0)
    expect(piped.stderr).toContain('gridx: uploaded 1 input file(s), 200.0 MiB')
    expect(piped.stderr).not.toContain('uploading')
    expect(piped.stderr).not.toContain('\r')
  }, 180_000)
})

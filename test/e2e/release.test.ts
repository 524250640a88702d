import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { VERSION } from '../../src/version'
import { tempDir } from './harness'

// `make release` (scripts/release.sh) builds all five binaries once, here; each check below reads
// them. The arm64 ones run under qemu-user-static (scripts/test-deps.sh installs it).

const ROOT = resolve(import.meta.dir, '../..')
const TARGETS = ['linux-x64', 'linux-arm64', 'macos-x64', 'macos-arm64', 'windows-x64'] as const
const fileOf = (t: string) => `gridx-${VERSION}-${t}${t.startsWith('windows') ? '.exe' : ''}`

const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0
/** The arm64 C library's loader for qemu (the Linux binary of Bun is linked against glibc). */
const ARM64_ROOT = '/usr/aarch64-linux-gnu'
const why =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? 'the release is built and checked on a linux-x64 machine'
    : !has('qemu-aarch64-static')
      ? 'no qemu-aarch64-static (apt-get install qemu-user-static)'
      : undefined
if (why) console.warn(`release tests skipped: ${why}`)

let dir: string
let out: string
let buildMs = 0
let log = ''

function run(argv: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

beforeAll(() => {
  if (why) return
  dir = tempDir('release')
  out = join(dir, 'release')
  const started = Date.now()
  const r = run(['bash', 'scripts/release.sh'], { RELEASE_DIR: out })
  buildMs = Date.now() - started
  log = r.stderr
  if (r.code !== 0) throw new Error(`scripts/release.sh failed (${r.code}):\n${r.stdout}${r.stderr}`)
  console.log(`make release: ${(buildMs / 1000).toFixed(1)} s\n${log.trim()}`)
}, 600_000)
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }))

/** The platform a binary is for, read from its header: ELF, Mach-O or PE, and the CPU. */
function headerOf(bytes: Uint8Array): string {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (v.getUint32(0) === 0x7f454c46) {
    const machine = v.getUint16(18, true)
    return `elf-${machine === 62 ? 'x64' : machine === 183 ? 'arm64' : machine}`
  }
  if (v.getUint32(0, true) === 0xfeedfacf) {
    const cpu = v.getUint32(4, true)
    return `macho-${cpu === 0x01000007 ? 'x64' : cpu === 0x0100000c ? 'arm64' : cpu}`
  }
  if (v.getUint16(0, true) === 0x5a4d) {
    const pe = v.getUint32(0x3c, true)
    const machine = v.getUint16(pe + 4, true)
    return `pe-${machine === 0x8664 ? 'x64' : machine}`
  }
  return 'unknown'
}

/** How often `needle` occurs in `hay`. */
function count(hay: Buffer, needle: string): number {
  let n = 0
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++
  return n
}

describe.skipIf(why !== undefined)('make release', () => {
  test('five binaries and a SHA256SUMS that sha256sum -c verifies, and that catches a changed file', () => {
    const files = readdirSync(out).sort()
    expect(files).toEqual([...TARGETS.map(fileOf), 'SHA256SUMS'].sort())
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8')
    expect(sums.trim().split('\n')).toHaveLength(5)
    const checked = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], { cwd: out, stdout: 'pipe' })
    expect(checked.exitCode).toBe(0)
    expect(checked.stdout.toString()).toContain(`${fileOf('linux-arm64')}: OK`)
    // A binary changed after the sums were made is caught (a truncated copy is the usual accident).
    const other = join(dir, 'tampered')
    mkdirSync(other)
    writeFileSync(join(other, 'SHA256SUMS'), sums)
    for (const t of TARGETS) writeFileSync(join(other, fileOf(t)), 'not the binary')
    const bad = Bun.spawnSync(['sha256sum', '-c', 'SHA256SUMS'], {
      cwd: other,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect(bad.exitCode).not.toBe(0)
    expect(bad.stdout.toString()).toContain(`${fileOf('windows-x64')}: FAILED`)
  })

  test('each binary is for its platform, carries both stage programs and the exec argv of make build', () => {
    for (const t of TARGETS) {
      const bytes = readFileSync(join(out, fileOf(t)))
      const [os, arch] = t.split('-') as [string, string]
      expect(`${t}: ${headerOf(bytes)}`).toBe(
        `${t}: ${os === 'linux' ? 'elf' : os === 'macos' ? 'macho' : 'pe'}-${arch}`,
      )
      // stage.c's usage line, once in each of the two stage programs, and nowhere else.
      expect(`${t}: ${count(bytes, 'usage: gridx-stage FROM TO')}`).toBe(`${t}: 2`)
      expect(`${t}: ${count(bytes, '--max-http-header-size=65536')}`).toBe(`${t}: 1`)
    }
  })

  test('the linux-x64 binary and, under qemu, the linux-arm64 one name their platform, Bun and both stages', () => {
    const native = run([join(out, fileOf('linux-x64')), 'version', '--json'])
    expect(native.stderr).toBe('')
    expect(JSON.parse(native.stdout)).toEqual({
      version: VERSION,
      platform: 'linux-x64',
      bun: Bun.version,
      stages: ['linux-x64', 'linux-arm64'],
      // The version of every command's --json output (docs/JSON.md).
      json: 1,
    })
    const arm = run(['qemu-aarch64-static', '-L', ARM64_ROOT, join(out, fileOf('linux-arm64')), 'version'])
    expect(arm.code).toBe(0)
    expect(arm.stdout).toBe(
      [
        `gridx ${VERSION}`,
        'platform: linux-arm64',
        `bun: ${Bun.version}`,
        'stage programs: linux-x64, linux-arm64 (jobs run on Docker engines of these CPUs)',
        '',
      ].join('\n'),
    )
    // --version is the same command.
    const flag = run(['qemu-aarch64-static', '-L', ARM64_ROOT, join(out, fileOf('linux-arm64')), '--version'])
    expect(flag.stdout).toBe(arm.stdout)
  })

  test('the arm64 stage program stages files and starts the command, under qemu', () => {
    const stage = join(dir, 'gridx-stage-arm64')
    const built = run(['bash', 'scripts/build-stage.sh', stage, 'arm64'])
    expect(built.stderr).not.toContain('failed')
    expect(headerOf(readFileSync(stage))).toBe('elf-arm64')
    const from = join(dir, 'from')
    const to = join(dir, 'to')
    mkdirSync(join(from, 'sub'), { recursive: true })
    mkdirSync(to)
    writeFileSync(join(from, 'sub', 'job.txt'), 'staged by the arm64 stage\n')
    const r = run(['qemu-aarch64-static', stage, from, to, '--', 'cat', join(to, 'sub', 'job.txt')])
    expect(r).toMatchObject({ code: 0, stdout: 'staged by the arm64 stage\n' })
    // A command that is not there: the stage's own status 127, as a shell would.
    mkdirSync(join(dir, 'to2'))
    const missing = run(['qemu-aarch64-static', stage, from, join(dir, 'to2'), '--', 'no-such-command'])
    expect(missing.code).toBe(127)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tar, type TarEntry } from '../../src/worker/tar'

const NOBODY = 65534
const enc = new TextEncoder()
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gridx-tar-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the system tar on an archive written to a temp file; fails the test when tar does. */
function runTar(archive: Buffer, args: string[]): string {
  const file = join(dir, `a-${crypto.randomUUID()}.tar`)
  writeFileSync(file, archive)
  const r = Bun.spawnSync(['tar', ...args, '-f', file], { env: { LC_ALL: 'C.UTF-8', TZ: 'UTC' } })
  const stderr = r.stderr.toString()
  expect(stderr).toBe('')
  expect(r.exitCode).toBe(0)
  return r.stdout.toString()
}

const entries: TarEntry[] = [
  { path: 'work', mode: 0o755, uid: NOBODY, gid: NOBODY },
  { path: 'work/job.py', data: enc.encode('print("hi")\n'), mode: 0o644, uid: NOBODY, gid: NOBODY },
  { path: 'work/empty', data: new Uint8Array(0), mode: 0o600, uid: NOBODY, gid: NOBODY },
  { path: 'work/big.bin', data: new Uint8Array(513).fill(7), mode: 0o755, uid: NOBODY, gid: NOBODY },
  { path: 'work/ünï.txt', data: enc.encode('x'), mode: 0o644, uid: NOBODY, gid: NOBODY },
]

describe('tar', () => {
  test('tar -tv lists every entry with its type, mode, owner and size', () => {
    const lines = runTar(tar(entries), ['-tv', '--numeric-owner'])
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(0, 3).concat(l.split(/\s+/).slice(5)).join(' '))
    expect(lines).toEqual([
      'drwxr-xr-x 65534/65534 0 work/',
      '-rw-r--r-- 65534/65534 12 work/job.py',
      '-rw------- 65534/65534 0 work/empty',
      '-rwxr-xr-x 65534/65534 513 work/big.bin',
      '-rw-r--r-- 65534/65534 1 work/ünï.txt',
    ])
  })

  test('file contents come back byte for byte', () => {
    const archive = tar(entries)
    expect(runTar(archive, ['-xO', 'work/job.py'])).toBe('print("hi")\n')
    expect(runTar(archive, ['-xO', 'work/empty'])).toBe('')
    expect(runTar(archive, ['-xO', 'work/big.bin'])).toBe('\x07'.repeat(513))
    expect(runTar(archive, ['-xO', 'work/ünï.txt'])).toBe('x')
  })

  test('binary data survives untouched', () => {
    const data = new Uint8Array(2048)
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 256
    const file = join(dir, 'bin.tar')
    writeFileSync(file, tar([{ path: 'blob', data, mode: 0o644, uid: 0, gid: 0 }]))
    const r = Bun.spawnSync(['tar', '-xOf', file, 'blob'])
    expect(r.exitCode).toBe(0)
    expect(new Uint8Array(r.stdout)).toEqual(data)
  })

  test('a directory given with a trailing slash is not doubled', () => {
    const listing = runTar(tar([{ path: 'a/', mode: 0o700, uid: NOBODY, gid: NOBODY }]), ['-tv'])
    expect(listing).toMatch(/^drwx------ .* a\/\n$/)
  })

  test('records are 512-byte blocks, data padded, and the archive ends with two zero blocks', () => {
    const archive = tar(entries)
    // 5 headers + job.py (1 block) + big.bin (2 blocks) + ünï.txt (1 block) + 2 end blocks
    expect(archive.length).toBe(512 * (5 + 1 + 2 + 1 + 2))
    expect(archive.subarray(archive.length - 1024).every((b) => b === 0)).toBe(true)
    expect(tar([]).length).toBe(1024)
  })

  test('headers carry the ustar magic, a valid checksum and the current time', () => {
    const before = Math.floor(Date.now() / 1000)
    const archive = tar([{ path: 'f', data: enc.encode('abc'), mode: 0o640, uid: NOBODY, gid: 1000 }])
    const after = Math.floor(Date.now() / 1000)
    const h = archive.subarray(0, 512)
    const field = (off: number, len: number) => h.subarray(off, off + len).toString('latin1')
    expect(field(257, 6)).toBe('ustar\0')
    expect(field(263, 2)).toBe('00')
    expect(field(100, 8)).toBe('0000640\0')
    expect(field(108, 8)).toBe('0177776\0')
    expect(field(116, 8)).toBe('0001750\0')
    expect(field(124, 12)).toBe('00000000003\0')
    expect(String.fromCharCode(h[156]!)).toBe('0')
    const mtime = parseInt(field(136, 11), 8)
    expect(mtime).toBeGreaterThanOrEqual(before)
    expect(mtime).toBeLessThanOrEqual(after)
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!
    expect(parseInt(field(148, 6), 8)).toBe(sum)
  })

  test('a path longer than the 100-byte name field is refused, not truncated', () => {
    const long = `d/${'x'.repeat(99)}`
    expect(() => tar([{ path: long, data: enc.encode(''), mode: 0o644, uid: 0, gid: 0 }])).toThrow(
      /tar path too long/,
    )
    // Multi-byte characters count by their UTF-8 bytes.
    expect(() => tar([{ path: 'é'.repeat(51), data: enc.encode(''), mode: 0o644, uid: 0, gid: 0 }])).toThrow(
      /tar path too long/,
    )
    const exactly100 = 'y'.repeat(100)
    const listing = runTar(tar([{ path: exactly100, data: enc.encode('z'), mode: 0o644, uid: 0, gid: 0 }]), [
      '-t',
    ])
    expect(listing).toBe(`${exactly100}\n`)
  })
})

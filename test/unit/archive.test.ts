import { afterAll, describe, expect, test } from 'bun:test'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tarStream from 'tar-stream'
import { collectInputs, saveOutputs } from '../../src/client/files'
import { GridError } from '../../src/errors'
import {
  cleanPath,
  packArchive,
  pathTooLong,
  readArchive,
  type ArchiveEntry,
} from '../../src/protocol/archive'

const dir = mkdtempSync(join(tmpdir(), 'gridx-archive-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const limits = { what: 'the test files', maxBytes: 1024 * 1024, maxEntries: 100 }
const file = (path: string, text: string, mode = 0o644): ArchiveEntry => ({
  path,
  type: 'file',
  data: Buffer.from(text),
  mode,
})

/** A raw tar with whatever headers a hostile job or worker could write. */
async function rawTar(
  entries: { name: string; type?: string; linkname?: string; data?: string }[],
): Promise<Buffer> {
  const pack = tarStream.pack()
  const chunks: Buffer[] = []
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer)
  })()
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        { name: e.name, type: (e.type ?? 'file') as 'file', ...(e.linkname ? { linkname: e.linkname } : {}) },
        e.data ?? '',
        (err) => (err ? reject(err) : resolve()),
      ),
    )
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

describe('cleanPath', () => {
  test('keeps relative paths, normalised', () => {
    expect(cleanPath('a/b.txt')).toBe('a/b.txt')
    expect(cleanPath('./a//b/./c')).toBe('a/b/c')
    expect(cleanPath('dir/')).toBe('dir')
  })
  test('refuses anything that could leave the directory or names nothing', () => {
    for (const bad of ['../x', 'a/../../x', 'a/..', '/etc/passwd', '', '.', './', 'C:/x', 'a\\..\\b', 'a\0b'])
      expect(cleanPath(bad)).toBeUndefined()
  })
})

describe('pathTooLong', () => {
  test('paths any worker can unpack pass; deeper, longer names or longer paths are named', () => {
    expect(pathTooLong('a/b/c.txt')).toBeUndefined()
    expect(pathTooLong(Array<string>(64).fill('d').join('/'))).toBeUndefined()
    expect(pathTooLong(Array<string>(65).fill('d').join('/'))).toBe('nested more than 64 directories deep')
    expect(pathTooLong(`a/${'n'.repeat(256)}`)).toBe('a name longer than 255 bytes')
    expect(pathTooLong(`a/${'é'.repeat(128)}`)).toBe('a name longer than 255 bytes') // 256 bytes of UTF-8
    expect(pathTooLong(Array<string>(5).fill('n'.repeat(250)).join('/'))).toBe(
      'a path longer than 1024 bytes',
    )
  })

  test('readArchive skips such paths with the reason; collectInputs refuses them before sending', async () => {
    const deep = Array<string>(70).fill('d').join('/')
    const r = await readArchive(
      await rawTar([
        { name: `${deep}/x.txt`, data: 'x' },
        { name: 'ok.txt', data: 'ok' },
      ]),
      limits,
    )
    expect(r.entries.map((e) => e.path)).toEqual(['ok.txt'])
    expect(r.skipped).toEqual([{ path: `${deep}/x.txt`, reason: 'nested more than 64 directories deep' }])
    const root = join(dir, 'deep-input')
    mkdirSync(join(root, ...Array<string>(65).fill('d')), { recursive: true })
    writeFileSync(join(root, ...Array<string>(65).fill('d'), 'x.txt'), 'x')
    const err = (() => {
      try {
        collectInputs([root])
        return undefined
      } catch (e) {
        return e as GridError
      }
    })()
    expect(err?.code).toBe('input_path_too_long')
    expect(err?.message).toContain('nested more than 64 directories deep')
  })
})

describe('packArchive and readArchive', () => {
  test('round trip keeps paths, bytes and the executable bit, adds parent directories', async () => {
    const big = 'x'.repeat(70_000)
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/name.txt` // past ustar's 100-byte name field
    const archive = await packArchive([
      file('run.sh', '#!/bin/sh\n', 0o700),
      file('a/b/big.txt', big),
      file(long, 'l'),
    ])
    const got = await readArchive(archive, limits)
    expect(got.skipped).toEqual([])
    const byPath = new Map(got.entries.map((e) => [e.path, e]))
    expect(Buffer.from(byPath.get('a/b/big.txt')!.data).toString()).toBe(big)
    expect(byPath.get('run.sh')!.mode).toBe(0o755)
    expect(byPath.get('a/b/big.txt')!.mode).toBe(0o644)
    expect(byPath.get('a')!.type).toBe('dir')
    expect(byPath.get('a/b')!.type).toBe('dir')
    expect(Buffer.from(byPath.get(long)!.data).toString()).toBe('l')
    // Parents come before their children.
    const order = got.entries.map((e) => e.path)
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('a/b/big.txt'))
  })

  test('the system tar reads what packArchive writes, with the owner asked for', async () => {
    const archive = await packArchive([file('job/x.py', 'print(1)')], {
      uid: 65534,
      gid: 65534,
      prefix: 'top',
    })
    const path = join(dir, 'sys.tar')
    writeFileSync(path, archive)
    const r = Bun.spawnSync(['tar', '-tvf', path, '--numeric-owner'])
    expect(r.exitCode).toBe(0)
    expect(r.stdout.toString()).toContain('65534/65534')
    expect(r.stdout.toString()).toContain('top/job/x.py')
  })

  test('links, devices and escaping paths are skipped with a reason; nothing else is lost', async () => {
    const archive = await rawTar([
      { name: 'ok.txt', data: 'fine' },
      { name: '../evil.txt', data: 'x' },
      { name: '/etc/cron.d/evil', data: 'x' },
      { name: 'pw', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'hard', type: 'link', linkname: '/etc/shadow' },
      { name: 'null', type: 'character-device' },
      { name: 'sub/../../up.txt', data: 'x' },
    ])
    const got = await readArchive(archive, limits)
    expect(got.entries.map((e) => e.path)).toEqual(['ok.txt'])
    const reasons = Object.fromEntries(got.skipped.map((s) => [s.path, s.reason]))
    expect(reasons['../evil.txt']).toBe('unsafe path')
    expect(reasons['/etc/cron.d/evil']).toBe('unsafe path')
    expect(reasons['pw']).toContain('symlink to /etc/passwd')
    expect(reasons['hard']).toContain('link')
    expect(reasons['null']).toContain('character-device')
    expect(reasons['sub/../../up.txt']).toBe('unsafe path')
  })

  test('limits: too many bytes or entries is a 413 naming the limit', async () => {
    const archive = await packArchive([file('a', 'x'.repeat(2000))])
    const err = await readArchive(archive, { ...limits, maxBytes: 1000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).status).toBe(413)
    expect((err as GridError).message).toContain('1000 B')
    const many = await packArchive(Array.from({ length: 5 }, (_, i) => file(`f${i}`, 'x')))
    const err2 = await readArchive(many, { ...limits, maxEntries: 3 }).catch((e: unknown) => e)
    expect((err2 as GridError).message).toContain('3 files')
  })

  test('not a tar archive: a clear 400', async () => {
    const err = await readArchive(Buffer.from('hello, this is not tar'.repeat(40)), limits).catch(
      (e: unknown) => e,
    )
    expect((err as GridError).code).toBe('bad_archive')
    expect((err as GridError).message).toContain('the test files are not a readable tar archive')
  })

  test('stripFirst drops the directory name Docker puts first; listOnly keeps no data', async () => {
    const archive = await packArchive([file('res/r.txt', 'r')], { prefix: 'out' })
    const got = await readArchive(archive, { ...limits, stripFirst: true, listOnly: true })
    expect(got.entries.map((e) => [e.path, e.data.length])).toEqual([
      ['res', 0],
      ['res/r.txt', 0],
    ])
    expect(got.bytes).toBe(1)
  })
})

describe('saveOutputs', () => {
  test('writes files under the directory and nothing outside it, even through a planted link', async () => {
    const target = join(dir, 'out-1')
    const outside = join(dir, 'outside')
    mkdirSync(outside)
    mkdirSync(target)
    // A link planted in the target beforehand must not be followed.
    symlinkSync(outside, join(target, 'planted'))
    symlinkSync(join(outside, 'victim.txt'), join(target, 'victim.txt'))
    const archive = await rawTar([
      { name: 'good/result.txt', data: 'result' },
      { name: '../escaped.txt', data: 'x' },
      { name: 'planted/through-link.txt', data: 'x' },
      { name: 'victim.txt', data: 'overwritten' },
      { name: 'pw', type: 'symlink', linkname: '/etc/passwd' },
    ])
    const saved = await saveOutputs(archive, target)
    expect(saved.files).toBe(1)
    expect(readFileSync(join(target, 'good/result.txt'), 'utf8')).toBe('result')
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false)
    expect(existsSync(join(outside, 'through-link.txt'))).toBe(false)
    expect(existsSync(join(outside, 'victim.txt'))).toBe(false)
    expect(existsSync(join(target, 'pw'))).toBe(false)
    expect(lstatSync(join(target, 'victim.txt')).isSymbolicLink()).toBe(true)
    const skipped = saved.skipped.map((s) => s.path)
    for (const p of ['../escaped.txt', 'planted/through-link.txt', 'victim.txt', 'pw'])
      expect(skipped).toContain(p)
  })
})

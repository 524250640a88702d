import { afterAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import tarStream from 'tar-stream'
import { type Admission, type BlobStore, sweepBlobs } from '../../src/coordinator/blobs'
import { DirBlobStore } from '../../src/coordinator/blobs/dir'
import { CHUNK_BYTES, PgBlobStore } from '../../src/coordinator/blobs/postgres'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store'
import { GridError } from '../../src/errors'
import { type ArchiveEntry, packArchive } from '../../src/protocol/archive'
import { tempDir } from '../e2e/harness'
import { freshDatabase } from '../support/postgres'

// One suite for every blob store (River's conformance idea): what a coordinator may rely on,
// whichever keeps its archives. Each case gets two stores on one backing (one directory, or
// one database), as two coordinators of a grid would.

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const random = (n: number) => new Uint8Array(n).map(() => Math.floor(Math.random() * 256))
const file = (path: string, data: Uint8Array): ArchiveEntry => ({ path, type: 'file', data, mode: 0o644 })
const LIMITS = { what: 'the input files', maxBytes: 4 * 1024 ** 2, maxEntries: 10 }
const body = (b: Uint8Array) => new Blob([b]).stream()
const put = (s: BlobStore, b: Uint8Array, admission?: Admission) =>
  s.putArchive(body(b), 8 * 1024 ** 2, LIMITS, admission)
const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof GridError)) throw new Error(`expected a GridError, got ${String(err)}`)
  return err
}
const digests = async (s: BlobStore) => {
  const all: string[] = []
  for await (const b of s.list()) all.push(b.sha256)
  return all.sort()
}

interface Pair {
  a: BlobStore
  b: BlobStore
  /** Temporary folders of both: empty whenever no upload is under way. */
  tmps: string[]
}

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const KINDS: Record<string, () => Promise<Pair>> = {
  'a shared directory (--blob-dir)': () => {
    const dir = tempDir('blobs-shared')
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const a = new DirBlobStore(dir, { shared: true })
    return Promise.resolve({ a, b: new DirBlobStore(dir, { shared: true }), tmps: [join(dir, 'tmp')] })
  },
  PostgreSQL: async () => {
    const url = await freshDatabase()
    const stores: Store[] = [await openPostgres(url), await openPostgres(url)]
    cleanups.push(async () => {
      for (const s of stores) await s.close()
    })
    const tmps = [tempDir('blobs-pg-a'), tempDir('blobs-pg-b')]
    const [a, b] = stores.map((s, i) => new PgBlobStore(s.blobChunks!, tmps[i]!))
    return { a: a!, b: b!, tmps }
  },
}

for (const [kind, make] of Object.entries(KINDS)) {
  describe(`blob store: ${kind}`, () => {
    test('an archive stored through one is read whole through the other, with its headers; listed once', async () => {
      const { a, b } = await make()
      // Several chunks and a partial last one, so chunk order and boundaries are exercised.
      const archive = await packArchive([file('x.bin', random(2 * CHUNK_BYTES + 1234)), file('y', random(7))])
      const stored = await put(a, archive)
      expect(stored).toEqual({
        sha256: sha256(archive),
        bytes: archive.length,
        files: 2,
        dataBytes: 2 * CHUNK_BYTES + 1241,
      })
      expect(await b.has(stored.sha256)).toBe(true)
      expect(await b.size(stored.sha256)).toBe(archive.length)
      const res = (await b.response(stored.sha256))!
      expect(res.headers.get('content-type')).toBe('application/x-tar')
      expect(res.headers.get('content-length')).toBe(b instanceof PgBlobStore ? null : String(archive.length))
      expect(res.headers.get('x-gridx-sha256')).toBe(stored.sha256)
      expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(stored.sha256)
      // The same archive again, from the other side, at once: both succeed, it is kept once.
      const again = await Promise.all([put(a, archive), put(b, archive)])
      expect(again.map((x) => x.sha256)).toEqual([stored.sha256, stored.sha256])
      expect(await digests(a)).toEqual([stored.sha256])
      const missing = 'a'.repeat(64)
      expect(await a.has(missing)).toBe(false)
      expect(await a.size(missing)).toBeUndefined()
      expect(await a.response(missing)).toBeUndefined()
      expect((await refusal(a.has('../etc/passwd'))).code).toBe('bad_digest')
    })

    test('refusals keep nothing: too big, too many entries, unsafe paths, not a tar, the admission (quota)', async () => {
      const { a, tmps } = await make()
      const big = await packArchive([file('big', random(LIMITS.maxBytes + 1))])
      expect((await refusal(a.putArchive(body(big), 1024 * 1024, LIMITS))).code).toBe('archive_too_big')
      expect((await refusal(put(a, big))).message).toContain('hold more than 4 MiB')
      const many = await packArchive(Array.from({ length: 12 }, (_, i) => file(`f${i}`, random(3))))
      expect((await refusal(put(a, many))).message).toContain('hold more than 10 files')
      const pack = tarStream.pack()
      pack.entry({ name: 'pw', type: 'symlink', linkname: '/etc/passwd' })
      pack.entry({ name: '../escape', type: 'file' }, 'x')
      pack.finalize()
      const chunks: Buffer[] = []
      for await (const c of pack) chunks.push(c as Buffer)
      const unsafe = await refusal(put(a, Buffer.concat(chunks)))
      expect(unsafe.code).toBe('unsafe_archive')
      expect(unsafe.message).toContain('symlink to /etc/passwd')
      expect((await refusal(put(a, random(5000)))).code).toBe('bad_archive')
      expect((await refusal(a.putArchive(null, 1024, LIMITS))).code).toBe('empty_body')

      const ok = await packArchive([file('ok', random(100 * 1024))])
      const quota = (roomBytes: number, admit: Admission['admit'] = () => {}): Admission => ({
        roomBytes,
        refuse: (bytes) => new GridError('quota_exceeded', `over the room at ${bytes}`, { status: 413 }),
        admit,
      })
      expect((await refusal(put(a, ok, quota(50 * 1024)))).code).toBe('quota_exceeded')
      const late = quota(1024 ** 2, () => {
        throw new GridError('quota_exceeded', 'refused once measured', { status: 413 })
      })
      expect((await refusal(put(a, ok, late))).message).toBe('refused once measured')
      expect(await digests(a)).toEqual([])
      for (const tmp of tmps) expect(readdirSync(tmp)).toEqual([])
      expect((await put(a, ok, quota(1024 ** 2))).sha256).toBe(sha256(ok))
    })

    test('remove and sweep: only archives stored before the cutoff and not kept; idempotent from either side', async () => {
      const { a, b } = await make()
      const [x, y, z] = await Promise.all(['x', 'y', 'z'].map((n) => packArchive([file(n, random(4096))])))
      const [sx, sy] = [await put(a, x!), await put(b, y!)]
      const before = Date.now() + 1
      // File times come from the kernel's coarse clock (a few ms behind): well past the cutoff.
      await Bun.sleep(50)
      const sz = await put(a, z!)
      // Stored after the cutoff: the sweep's grace keeps it, as an archive whose row is not yet written.
      expect(await a.remove(sz.sha256, before)).toBeUndefined()
      expect(await b.has(sz.sha256)).toBe(true)
      // Two coordinators sweeping at once (only one should, but a handover may overlap) remove each once.
      const keep = new Set([sy.sha256])
      const both = await Promise.all([sweepBlobs(a, keep, before), sweepBlobs(b, keep, before)])
      expect(both.reduce((n, g) => n + g.removed, 0)).toBe(1)
      expect(both.reduce((n, g) => n + g.bytes, 0)).toBe(x!.length)
      expect(await digests(b)).toEqual([sy.sha256, sz.sha256].sort())
      expect(await sweepBlobs(a, keep, before)).toEqual({ removed: 0, bytes: 0 })
      expect(await b.remove(sx.sha256, before)).toBeUndefined()
      // Stored again after the sweep looked: a newer time, so a late removal leaves it.
      expect(await a.remove(sy.sha256, before)).toBe(y!.length)
      await put(b, y!)
      expect(await a.remove(sy.sha256, before)).toBeUndefined()
      expect(sha256(new Uint8Array(await (await a.response(sy.sha256))!.arrayBuffer()))).toBe(sy.sha256)
    })
  })
}

describe('blob store: PostgreSQL only', () => {
  test('an archive removed while it is being sent ends the response in an error, never a short archive', async () => {
    const { a } = await KINDS.PostgreSQL!()
    const archive = await packArchive([file('x.bin', random(12 * CHUNK_BYTES))])
    const { sha256: sha } = await put(a, archive)
    const reader = (await a.response(sha))!.body!.getReader()
    const first = await reader.read()
    expect(first.done).toBe(false)
    expect(await a.remove(sha, Date.now() + 1)).toBe(archive.length)
    const rest = async () => {
      for (;;) if ((await reader.read()).done) return 'ended'
    }
    expect(String(await rest().catch((e: unknown) => e))).toContain(
      `archive ${sha} was removed while it was sent`,
    )
  })
})

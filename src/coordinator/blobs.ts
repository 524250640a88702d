import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream, existsSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, GridError } from '../errors'
import { type ArchiveLimits, readArchive } from '../protocol/archive'
import { formatBytes } from '../protocol/units'
import { PRIVATE_FILE_MODE, privateDir } from './data-dir'
import { isDiskFull } from './disk'

/** A stored archive as the coordinator measured it: SHA-256, size, files and the bytes of their data. */
export interface Blob {
  sha256: string
  /** Size of the archive itself, what it takes on disk. */
  bytes: number
  /** Regular files in it. */
  files: number
  /** Bytes of file data in it (what a job's /out files add up to). */
  dataBytes: number
}

/**
 * Room an upload may take besides the archive limits (its owner's storage quota): checked while
 * it streams, and once its digest is known, before it is kept.
 */
export interface Admission {
  /** Most bytes the upload may take. */
  roomBytes: number
  /** The refusal once the upload has passed `roomBytes` at `bytes`. */
  refuse(bytes: number): GridError
  /** Called with the complete archive, measured, before it is kept; throws to refuse it (nothing is kept). */
  admit(blob: Blob): void | Promise<void>
}

/**
 * Job archives (inputs and /out outputs) on the coordinator's disk, named by their SHA-256, so
 * the same files uploaded twice are stored once and a digest names exactly one content.
 */
export class BlobStore {
  private readonly tmp: string

  constructor(private readonly dir: string) {
    this.tmp = join(dir, 'tmp')
    privateDir(dir)
    privateDir(this.tmp)
    // Uploads cut short by a crash leave their temporary files here. The folder itself stays: making
    // it again may not fit on a full disk, and a coordinator must start on one.
    for (const name of readdirSync(this.tmp)) rmSync(join(this.tmp, name), { recursive: true, force: true })
  }

  /** Where a blob lives on disk. */
  path(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new GridError('bad_digest', `'${sha256}' is not a SHA-256 digest`)
    return join(this.dir, sha256)
  }

  /**
   * Removes stored archives that are not in `keep` and were last written before `before` (an
   * archive just stored has no database row yet). Returns how many went and their bytes.
   */
  async sweep(keep: ReadonlySet<string>, before: number): Promise<{ removed: number; bytes: number }> {
    let removed = 0
    let bytes = 0
    // Asynchronous, file by file: a first sweep over many archives must not stall the API.
    for (const name of await readdir(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(name) || keep.has(name)) continue
      const path = join(this.dir, name)
      const st = await stat(path).catch(() => undefined)
      if (!st || st.mtimeMs >= before) continue
      await rm(path, { force: true })
      removed++
      bytes += st.size
    }
    return { removed, bytes }
  }

  /** True when the blob is stored. */
  has(sha256: string): boolean {
    return existsSync(this.path(sha256))
  }

  /**
   * Stores a request body that must be a job archive: streamed to disk while hashing, refused
   * past `maxBytes` (or the `admission`'s room), checked to hold only files and directories under
   * safe paths. Nothing is kept when any check fails. A full disk is thrown as it is (see disk.ts).
   */
  async putArchive(
    body: ReadableStream<Uint8Array> | null,
    maxBytes: number,
    limits: ArchiveLimits,
    admission?: Admission,
  ): Promise<Blob> {
    if (!body)
      throw new GridError('empty_body', `${limits.what}: the request has no body (send a tar archive)`)
    const tmp = join(this.tmp, randomUUID())
    const hash = createHash('sha256')
    let bytes = 0
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length
        if (bytes > maxBytes) {
          const msg = `${limits.what} are larger than ${formatBytes(maxBytes)}, the most this coordinator accepts`
          return done(new GridError('archive_too_big', msg, { status: 413 }))
        }
        if (admission && bytes > admission.roomBytes) return done(admission.refuse(bytes))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    try {
      // pipeline closes every stream on any failure: a dropped upload or a full disk leaks nothing.
      const file = createWriteStream(tmp, { mode: PRIVATE_FILE_MODE })
      await pipeline(Readable.fromWeb(body), meter, file).catch((err: unknown) => {
        if (err instanceof GridError || isDiskFull(err)) throw err
        throw new GridError('store_failed', `could not store ${limits.what}: ${describe(err)}`, {
          status: 507,
        })
      })
      const contents = await readArchive(Bun.file(tmp).stream(), { ...limits, listOnly: true })
      if (contents.skipped.length > 0) {
        const list = contents.skipped
          .slice(0, 5)
          .map((s) => `${s.path} (${s.reason})`)
          .join(', ')
        throw new GridError(
          'unsafe_archive',
          `${limits.what} hold entries that are not plain files under safe paths: ${list}`,
          { status: 400 },
        )
      }
      const files = contents.entries.filter((e) => e.type === 'file').length
      const blob = { sha256: hash.digest('hex'), bytes, files, dataBytes: contents.bytes }
      await admission?.admit(blob)
      renameSync(tmp, this.path(blob.sha256))
      return blob
    } finally {
      rmSync(tmp, { force: true })
    }
  }
}

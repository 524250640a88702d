import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs'
import { opendir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileChunks } from '../../blobs/postgres'
import * as schema from '../../../db/postgres/schema'
import { GridError } from '../../../errors'
import { readArchive } from '../../../protocol/archive'
import type { Tx } from '../postgres/db'

const { blobs, blobChunks } = schema

/** An archive the source coordinator stored (job inputs, /out outputs): a file named by its SHA-256. */
const DIGEST = /^[0-9a-f]{64}$/

/** Where a migration puts the grid's stored files. */
export interface FileDestination {
  /** Where they go, for the summary. */
  readonly where: string
  /**
   * Stores one archive read from `file`, checking on the way that its content has the digest it
   * is named by; 'present' when the destination already holds it.
   */
  put(sha256: string, file: string, bytes: number): Promise<'copied' | 'present'>
}

/**
 * The grid's PostgreSQL, in the chunks its coordinators read (`src/coordinator/blobs/postgres.ts`),
 * written in the migration's transaction (`tx`), so a failure leaves the target empty. Each
 * archive is read twice, streamed: once to check its digest and list its entries (the counts
 * the blob row keeps), once into chunks.
 */
export function postgresDestination(tx: Tx, now = Date.now()): FileDestination {
  return {
    where: 'the PostgreSQL database',
    put: async (sha256, file, bytes) => {
      const hash = createHash('sha256')
      async function* hashed(): AsyncIterable<Uint8Array> {
        for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
          hash.update(chunk)
          yield chunk
        }
      }
      // Archives the coordinator already checked when it took them: listed here for their counts.
      const contents = await readArchive(hashed(), {
        maxBytes: Number.MAX_SAFE_INTEGER,
        maxEntries: Number.MAX_SAFE_INTEGER,
        what: `the stored file ${file}`,
        listOnly: true,
      })
      const got = hash.digest('hex')
      if (got !== sha256) throw damaged(file, got)
      let idx = 0
      for await (const data of fileChunks(file)) {
        await tx.insert(blobChunks).values({ sha256, idx: idx++, data: Buffer.from(data) })
      }
      const files = contents.entries.filter((e) => e.type === 'file').length
      await tx
        .insert(blobs)
        .values({ sha256, bytes, files, dataBytes: contents.bytes, chunks: idx, storedAt: now })
      return 'copied'
    },
  }
}

/** A directory of archives named by digest, as a coordinator's `blobs` folder (or a `--blob-dir`). */
export function directoryDestination(dir: string): FileDestination {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  return {
    where: dir,
    put: async (sha256, file, bytes) => {
      const to = join(dir, sha256)
      const have = await stat(to).catch(() => undefined)
      // Content-addressed: a file of that name and size is that archive (it is the source itself
      // when both directories are one).
      if (have?.size === bytes) return 'present'
      const tmp = join(dir, `.${sha256}.${randomUUID()}.part`)
      const hash = createHash('sha256')
      const digest = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk)
          done(null, chunk)
        },
      })
      try {
        await pipeline(createReadStream(file), digest, createWriteStream(tmp, { mode: 0o600 }))
        const got = hash.digest('hex')
        if (got !== sha256) throw damaged(file, got)
        await rename(tmp, to)
      } finally {
        await rm(tmp, { force: true })
      }
      return 'copied'
    },
  }
}

const damaged = (file: string, got: string) =>
  new GridError(
    'migrate_file_damaged',
    `the stored file ${file} is damaged (its content has SHA-256 ${got}, not the one it is named by): move it away (the job files it held are lost) and run gridx migrate again`,
  )

/** What moving the stored files did. */
export interface FilesMoved {
  /** Where they went; undefined when they were left where they are. */
  where: string | undefined
  files: number
  copied: number
  bytes: number
  ms: number
}

/**
 * Moves every archive in the source's blob directory to `dest`, one file at a time (streamed, its
 * digest checked), or only counts them when there is no destination. A directory that does not
 * exist holds none (a grid that never stored a file).
 */
export async function moveFiles(
  fromDir: string,
  dest: FileDestination | undefined,
  progress: (files: number, bytes: number, ms: number) => void,
): Promise<FilesMoved> {
  const started = performance.now()
  const moved: FilesMoved = { where: dest?.where, files: 0, copied: 0, bytes: 0, ms: 0 }
  if (!existsSync(fromDir)) return moved
  let reported = started
  // opendir reads the directory as it goes: a grid may have stored very many archives.
  for await (const entry of await opendir(fromDir)) {
    if (!entry.isFile() || !DIGEST.test(entry.name)) continue
    const file = join(fromDir, entry.name)
    const { size } = await stat(file)
    moved.files++
    moved.bytes += size
    if (dest && (await dest.put(entry.name, file, size)) === 'copied') moved.copied++
    const now = performance.now()
    if (now - reported >= 2000) {
      reported = now
      progress(moved.files, moved.bytes, now - started)
    }
  }
  moved.ms = performance.now() - started
  return moved
}

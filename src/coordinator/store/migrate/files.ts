import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs'
import { opendir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { GridError } from '../../../errors'

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

// ─── Stored files in PostgreSQL ─────────────────────────────────────────────────────────────
// The blob seam of issue 14 (stored files in PostgreSQL in chunks, and `--blob-dir`) is being
// built on another branch. When it lands, a `postgresDestination(tx)` belongs here: it writes each
// archive through that seam's PostgreSQL implementation inside the migration's transaction (so a
// failure leaves the target empty), and `gridx migrate` uses it when --to-blob-dir is not given.
// ─────────────────────────────────────────────────────────────────────────────────────────────

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

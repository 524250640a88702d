import { GridError } from '../errors'
import { formatBytes } from './units'

/**
 * Job files travel as tar archives: inputs from the submitter to the worker, outputs from the
 * worker back to the submitter. Every side reads them with `readArchive`, which keeps only plain
 * files and directories under clean relative paths, so no archive can make anyone write outside
 * the directory it is unpacked into.
 */

// tar-stream (with streamx) and node:stream load when an archive is first packed or read: a
// submit without files, and every other command, never pays for them.
const tarStream = async () => (await import('tar-stream')).default

/** One file or directory of a job archive; `path` is relative and clean (see `cleanPath`). */
export interface ArchiveEntry {
  path: string
  type: 'file' | 'dir'
  /** Empty for a directory. */
  data: Uint8Array
  /** Unix permission bits; only whether a file is executable survives a round trip. */
  mode: number
}

/** Something an archive held that was left out, and why. */
export interface Skipped {
  path: string
  reason: string
}

/** The contents of an archive after sanitising. */
export interface Contents {
  entries: ArchiveEntry[]
  skipped: Skipped[]
  /** Bytes of file data kept. */
  bytes: number
}

/** Limits on reading an archive. */
export interface ArchiveLimits {
  /** Most bytes of file data. */
  maxBytes: number
  /** Most entries (files and directories). */
  maxEntries: number
  /** What the archive is, for messages ("the job's /out", "the inputs"). */
  what: string
  /** Drops the first path component (Docker's archives of a directory start with its name). */
  stripFirst?: boolean
  /** Checks and lists the archive without keeping file data (entries' data stay empty). */
  listOnly?: boolean
}

/**
 * The clean relative form of a path from an archive, or undefined when it could escape the
 * directory it is unpacked into (absolute, `..`, drive letters, NUL) or names nothing.
 */
export function cleanPath(name: string): string | undefined {
  if (name.includes('\0') || name.includes('\\') || /^[a-zA-Z]:/.test(name)) return undefined
  if (name.startsWith('/')) return undefined
  const parts = name.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.length === 0 || parts.some((p) => p === '..')) return undefined
  return parts.join('/')
}

/** How deep and how long a path in a job archive may be: what any file system and the stage program take. */
export const PATH_LIMITS = { depth: 64, nameBytes: 255, pathBytes: 1024 } as const

/** Why a clean path is too deep or too long to unpack anywhere, or undefined when it is fine. */
export function pathTooLong(path: string): string | undefined {
  const names = path.split('/')
  if (names.length > PATH_LIMITS.depth) return `nested more than ${PATH_LIMITS.depth} directories deep`
  if (names.some((n) => Buffer.byteLength(n) > PATH_LIMITS.nameBytes))
    return `a name longer than ${PATH_LIMITS.nameBytes} bytes`
  if (Buffer.byteLength(path) > PATH_LIMITS.pathBytes)
    return `a path longer than ${PATH_LIMITS.pathBytes} bytes`
  return undefined
}

/** Normalised permission bits: 0755 for directories and executables, 0644 otherwise. */
export function modeOf(type: 'file' | 'dir', mode: number): number {
  return type === 'dir' || (mode & 0o111) !== 0 ? 0o755 : 0o644
}

/** Builds a tar archive of `entries`, owned by `owner`, each path under `prefix` (if any). */
export async function packArchive(
  entries: readonly ArchiveEntry[],
  opts: { uid?: number; gid?: number; prefix?: string } = {},
): Promise<Buffer> {
  const pack = (await tarStream()).pack()
  const chunks: Buffer[] = []
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer)
  })()
  const mtime = new Date()
  for (const e of entries) {
    const name = opts.prefix ? `${opts.prefix}/${e.path}` : e.path
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name,
          type: e.type === 'dir' ? 'directory' : 'file',
          mode: modeOf(e.type, e.mode),
          uid: opts.uid ?? 0,
          gid: opts.gid ?? 0,
          mtime,
          size: e.type === 'dir' ? 0 : e.data.length,
        },
        Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length),
        (err) => (err ? reject(err) : resolve()),
      ),
    )
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

/**
 * Reads a tar archive, keeping plain files and directories with clean paths and skipping (with a
 * reason) links, devices and unsafe paths. Parent directories of kept files are listed too.
 * Throws a GridError when the archive is not a tar file or passes the limits.
 */
export async function readArchive(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  limits: ArchiveLimits,
): Promise<Contents> {
  const extract = (await tarStream()).extract()
  const { Readable } = await import('node:stream')
  const input = source instanceof Uint8Array ? Readable.from([Buffer.from(source)]) : Readable.from(source)
  input.on('error', (err) => extract.destroy(err))
  input.pipe(extract)
  const files = new Map<string, ArchiveEntry>()
  const skipped: Skipped[] = []
  let bytes = 0
  const tooBig = (what: string) =>
    new GridError('archive_too_big', `${limits.what} hold more than ${what}, the most allowed`, {
      status: 413,
    })
  try {
    for await (const entry of extract) {
      const h = entry.header
      let raw = h.name
      if (limits.stripFirst) raw = raw.replace(/^\/*[^/]*\/?/, '')
      const type =
        h.type === 'directory'
          ? 'dir'
          : h.type === 'file' || h.type === 'contiguous-file'
            ? 'file'
            : undefined
      if (raw === '' || raw === '.' || raw === './') {
        entry.resume()
        continue
      }
      const path = cleanPath(raw)
      const long = path && pathTooLong(path)
      if (!path || !type || long) {
        skipped.push({
          path: raw,
          reason: !path
            ? 'unsafe path'
            : long ||
              `${h.type ?? 'unknown'}${h.linkname ? ` to ${h.linkname}` : ''} (only files and directories are kept)`,
        })
        entry.resume()
        if (files.size + skipped.length > limits.maxEntries) throw tooBig(`${limits.maxEntries} files`)
        continue
      }
      const parts: Buffer[] = []
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (bytes > limits.maxBytes) throw tooBig(formatBytes(limits.maxBytes))
        if (!limits.listOnly) parts.push(chunk)
      }
      // Parents first, so a file's directory always exists when it is unpacked.
      const segs = path.split('/')
      for (let i = 1; i < segs.length; i++) {
        const dir = segs.slice(0, i).join('/')
        // A file of the same name as a later entry's directory gives way to the directory.
        const prev = files.get(dir)
        if (prev?.type === 'dir') continue
        if (prev) skipped.push({ path: dir, reason: 'replaced by a directory of the same name' })
        files.set(dir, { path: dir, type: 'dir', data: new Uint8Array(0), mode: 0o755 })
      }
      const existing = files.get(path)
      if (existing?.type === 'dir') {
        if (type === 'file') skipped.push({ path, reason: 'a directory of that name exists' })
        continue
      }
      const data = type === 'dir' ? new Uint8Array(0) : Buffer.concat(parts)
      files.set(path, { path, type, data, mode: modeOf(type, h.mode ?? 0) })
      if (files.size + skipped.length > limits.maxEntries) throw tooBig(`${limits.maxEntries} files`)
    }
  } catch (err) {
    if (err instanceof GridError) throw err
    throw new GridError(
      'bad_archive',
      `${limits.what} are not a readable tar archive (${(err as Error).message})`,
      {
        status: 400,
      },
    )
  } finally {
    input.unpipe(extract)
    input.destroy()
  }
  const entries = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { entries, skipped, bytes }
}

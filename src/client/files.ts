import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  statSync,
  writeSync,
} from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { GridError } from '../errors'
import { cleanPath, pathTooLong, readArchive, type Skipped } from '../protocol/archive'
import { formatBytes } from '../protocol/units'

/** Most bytes of input files one submission may upload (the coordinator may allow less). */
export const MAX_INPUT_BYTES = 512 * 1024 * 1024

/** Most files one submission may upload. */
export const MAX_INPUT_FILES = 10_000

/**
 * One file or directory of a submission's inputs: what goes in the archive, by its path on disk
 * (read only while the archive streams out, so no input is ever held whole in memory).
 */
export interface InputEntry {
  /** The path in the job's working directory: relative and clean. */
  path: string
  type: 'file' | 'dir'
  /** Bytes of a file when it was listed (0 for a directory); a file that changes size before it is sent is refused. */
  size: number
  /** Unix permission bits. */
  mode: number
  /** Where a file is read from. */
  source?: string
}

/**
 * The entries of the job's working directory for `--file` paths: a file goes in by its name,
 * a directory with everything under it (`--file data/` gives `data/...`). With `asRoot`, the
 * contents of a single directory go in at the top (`gridx submit DIR --entry main.py`).
 * Symbolic links to files are followed; links to directories are skipped, so a loop cannot hang it.
 */
export function collectInputs(
  paths: readonly string[],
  opts: { asRoot?: boolean; skip?: readonly string[] } = {},
): InputEntry[] {
  const entries = new Map<string, InputEntry>()
  let bytes = 0
  const tooBig = (): never => {
    throw new GridError(
      'inputs_too_big',
      `the input files come to more than ${formatBytes(MAX_INPUT_BYTES)} or ${MAX_INPUT_FILES} files: send less, or put large data where the job can read it another way`,
    )
  }
  const add = (e: InputEntry) => {
    const long = pathTooLong(e.path)
    if (long) {
      throw new GridError(
        'input_path_too_long',
        `input '${e.path}' cannot be sent: ${long} (the most a job's files may have); move or rename it`,
      )
    }
    bytes += e.size
    if (bytes > MAX_INPUT_BYTES || entries.size >= MAX_INPUT_FILES) tooBig()
    entries.set(e.path, e)
  }
  const file = (path: string, source: string, st: { size: number; mode: number }): InputEntry => {
    if (bytes + st.size > MAX_INPUT_BYTES) tooBig()
    // Opened now so an unreadable file is named before anything is sent; read while streaming.
    try {
      closeSync(openSync(source, 'r'))
    } catch (err) {
      throw new GridError('no_input', `cannot read input '${source}': ${(err as Error).message}`)
    }
    return { path, type: 'file', size: st.size, mode: st.mode, source }
  }
  const walk = (root: string, abs: string, rel: string) => {
    let names: string[]
    try {
      names = readdirSync(abs).sort()
    } catch (err) {
      throw new GridError('no_input', `cannot read input directory '${abs}': ${(err as Error).message}`)
    }
    for (const name of names) {
      const child = join(abs, name)
      const path = rel ? `${rel}/${name}` : name
      // Results saved by earlier runs inside a project would otherwise be uploaded again and again.
      if (opts.skip?.includes(path)) continue
      const link = lstatSync(child)
      const st = link.isSymbolicLink() ? statSync(child, { throwIfNoEntry: false }) : link
      // A link may point anywhere (~/.aws/credentials): only links that stay inside the directory are followed.
      if (link.isSymbolicLink() && relative(root, realpathSync(child)).startsWith('..')) continue
      if (st?.isDirectory() && !link.isSymbolicLink()) {
        add({ path, type: 'dir', size: 0, mode: 0o755 })
        walk(root, child, path)
      } else if (st?.isFile()) {
        add(file(path, child, st))
      }
    }
  }
  for (const p of paths) {
    const st = statSync(p, { throwIfNoEntry: false })
    if (!st) throw new GridError('no_input', `input '${p}' not found (looked in ${process.cwd()})`)
    const name = basename(resolve(p))
    if (st.isFile()) {
      add(file(name, p, st))
    } else if (st.isDirectory()) {
      if (!opts.asRoot) add({ path: name, type: 'dir', size: 0, mode: 0o755 })
      walk(realpathSync(p), p, opts.asRoot ? '' : name)
    } else {
      throw new GridError('no_input', `input '${p}' is neither a file nor a directory`)
    }
  }
  return [...entries.values()]
}

/** What `saveOutputs` wrote. */
export interface Saved {
  dir: string
  files: number
  bytes: number
  skipped: Skipped[]
}

/**
 * Unpacks a job's /out archive into `dir`. Whatever the archive holds, nothing is written outside
 * `dir`: only files and directories under clean relative paths are kept, and no path is followed
 * through a symbolic link (one planted in `dir` beforehand included).
 */
export async function saveOutputs(archive: Uint8Array, dir: string): Promise<Saved> {
  const contents = await readArchive(archive, {
    what: "the job's output files",
    maxBytes: Number.MAX_SAFE_INTEGER,
    maxEntries: Number.MAX_SAFE_INTEGER,
  })
  mkdirSync(dir, { recursive: true })
  const root = resolve(dir)
  const skipped = [...contents.skipped]
  let files = 0
  for (const e of contents.entries) {
    const path = cleanPath(e.path)
    const target = path ? resolve(root, path) : undefined
    if (!path || !target || relative(root, target).startsWith('..') || throughLink(root, path)) {
      skipped.push({ path: e.path, reason: 'it would be written outside the output directory' })
      continue
    }
    try {
      if (e.type === 'dir') {
        mkdirSync(target, { recursive: true })
        continue
      }
      // O_NOFOLLOW: a symbolic link at the target itself is refused rather than written through.
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW
      const fd = openSync(target, flags, e.mode)
      try {
        writeSync(fd, e.data)
      } finally {
        closeSync(fd)
      }
      files++
    } catch (err) {
      // Say what could not be written (a file where a directory is now, say) and save the rest.
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      skipped.push({ path: e.path, reason: `it could not be written (${code})` })
    }
  }
  return { dir, files, bytes: contents.bytes, skipped }
}

/** True when a directory on the way to `path` under `root` exists as a symbolic link. */
function throughLink(root: string, path: string): boolean {
  const parts = path.split('/')
  let at = root
  for (const part of parts) {
    at = join(at, part)
    const st = lstatSync(at, { throwIfNoEntry: false })
    if (!st) return false
    if (st.isSymbolicLink()) return true
  }
  return false
}

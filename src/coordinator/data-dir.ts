import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Mode of the data directory and of every directory gridx keeps in it: the coordinator's user only. */
export const PRIVATE_DIR_MODE = 0o700
/** Mode of every file gridx keeps there: password hashes, scripts, output and job files. */
export const PRIVATE_FILE_MODE = 0o600

/** What gridx keeps in its data directory: the database (with its WAL files) and these folders. */
const DATABASE_FILE = /^gridx\.db(-wal|-shm|-journal)?$/
const OWN_FOLDERS = ['blobs', 'tls']

/** Creates a private directory (0700 whatever the umask), or tightens an existing one. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  chmodSync(dir, PRIVATE_DIR_MODE)
}

/** Creates an empty private file (0600) unless it exists, and tightens it either way. */
export function privateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE))
  chmodSync(path, PRIVATE_FILE_MODE)
}

/** Sets `mode` on a real file or directory whose permission bits differ; links are left alone. */
function tighten(path: string, dirMode: number, fileMode: number): 'dir' | 'file' | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false })
  if (!st || st.isSymbolicLink()) return undefined
  const mode = st.isDirectory() ? dirMode : fileMode
  if ((st.mode & 0o7777) !== mode) chmodSync(path, mode)
  return st.isDirectory() ? 'dir' : 'file'
}

function tightenTree(dir: string): void {
  if (tighten(dir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE) !== 'dir') return
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (tighten(path, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE) === 'dir') tightenTree(path)
  }
}

/**
 * Makes the data directory private: 0700 for it and its folders, 0600 for the database and every
 * file under those folders, including what earlier versions left readable by all (0755/0644).
 * Only gridx's own entries are touched, so a data directory shared with other files keeps them as
 * they are.
 */
export function secureDataDir(dir: string): void {
  privateDir(dir)
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (DATABASE_FILE.test(name)) tighten(path, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE)
    else if (OWN_FOLDERS.includes(name)) tightenTree(path)
  }
}

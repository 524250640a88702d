import { Database } from 'bun:sqlite'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { migrate, MIGRATIONS } from '../../../db/sqlite/migrate'
import * as schema from '../../../db/sqlite/schema'
import { describe, GridError } from '../../../errors'
import type { Db } from '../sqlite/ledger'

/** A coordinator's SQLite database opened for moving: locked against every other process. */
export interface Source {
  path: string
  sqlite: Database
  db: Db
  /** Migrations of this binary the file lacked, applied before the copy (as `gridx serve` would). */
  upgraded: string[]
  /** Gives the file back as it was found: WAL mode, unlocked. */
  close(): void
}

/** The SQLite result code of an error from bun:sqlite (`SQLITE_BUSY`, `SQLITE_NOTADB`, ...). */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : ''
}

const busy = (path: string) =>
  new GridError(
    'migrate_source_busy',
    `${path} is in use by a running coordinator (or another program has it open): stop gridx serve first (every coordinator on this data directory), then run gridx migrate again`,
  )

const notGrid = (path: string, why: string) =>
  new GridError(
    'migrate_source_invalid',
    `${path} is not a Grid-X database (${why}): give --from the gridx.db in a coordinator's data directory ($GRIDX_HOME/coordinator/gridx.db unless gridx serve ran with --data-dir)`,
  )

/**
 * Opens the SQLite file of a stopped coordinator and locks it for the whole copy. A coordinator
 * holds its database open (in WAL mode, with a shared lock) for as long as it runs, even idle,
 * so leaving WAL mode, which needs the file to itself, fails exactly when one is running; the
 * exclusive locking mode then keeps every other process out (a coordinator started meanwhile
 * finds the file locked and stops) until `close`. A file of an older gridx is brought up to this
 * binary's schema first; one of a newer gridx is refused before anything is changed.
 */
export function openSource(given: string): Source {
  const path = existsSync(given) && statSync(given).isDirectory() ? join(given, 'gridx.db') : given
  if (!existsSync(path)) {
    throw new GridError(
      'migrate_source_missing',
      `there is no database at ${path}: give --from the gridx.db of the coordinator to move (in its data directory, $GRIDX_HOME/coordinator unless gridx serve ran with --data-dir)`,
    )
  }
  let sqlite: Database
  try {
    sqlite = new Database(path, { readwrite: true, create: false, strict: true })
  } catch (err) {
    throw notGrid(path, describe(err))
  }
  let locked = false
  try {
    sqlite.run('PRAGMA busy_timeout = 0')
    let tables: Set<string>
    try {
      tables = new Set(
        sqlite
          .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'")
          .all()
          .map((r) => r.name),
      )
    } catch (err) {
      if (codeOf(err) === 'SQLITE_BUSY') throw busy(path)
      throw notGrid(path, codeOf(err) === 'SQLITE_NOTADB' ? 'not an SQLite file' : describe(err))
    }
    for (const t of ['gridx_migrations', 'users', 'jobs', 'transfers']) {
      if (!tables.has(t)) throw notGrid(path, `it has no ${t} table`)
    }
    const applied = sqlite
      .query<{ id: string }, []>('SELECT id FROM gridx_migrations ORDER BY id')
      .all()
      .map((r) => r.id)
    const known = new Set(MIGRATIONS.map((m) => m.id))
    const unknown = applied.filter((id) => !known.has(id))
    if (unknown.length > 0) {
      throw new GridError(
        'migrate_source_newer',
        `${path} was made by a newer gridx (it has migration ${unknown.at(-1)}; this binary knows up to ${MIGRATIONS.at(-1)!.id}): run gridx migrate of that release or a later one`,
      )
    }
    try {
      const [mode] = sqlite.query<{ journal_mode: string }, []>('PRAGMA journal_mode = DELETE').all()
      if (mode?.journal_mode !== 'delete') throw busy(path)
      sqlite.run('PRAGMA locking_mode = EXCLUSIVE')
      // The first write takes the exclusive lock; the locking mode keeps it after the commit.
      sqlite.run('BEGIN EXCLUSIVE')
      sqlite.run('COMMIT')
      locked = true
    } catch (err) {
      if (err instanceof GridError) throw err
      if (codeOf(err).startsWith('SQLITE_BUSY') || codeOf(err).startsWith('SQLITE_LOCKED')) throw busy(path)
      if (codeOf(err).startsWith('SQLITE_READONLY')) {
        throw new GridError(
          'migrate_source_readonly',
          `cannot lock ${path}: it is read-only to this user; run gridx migrate as the user gridx serve runs as`,
        )
      }
      throw err
    }
    const before = new Set(applied)
    migrate(sqlite)
    const upgraded = MIGRATIONS.map((m) => m.id).filter((id) => !before.has(id))
    return {
      path,
      sqlite,
      db: drizzle(sqlite, { schema }),
      upgraded,
      close: () => release(sqlite),
    }
  } catch (err) {
    if (locked) release(sqlite)
    else sqlite.close()
    throw err
  }
}

/**
 * Lets go of the source: the lock goes at the first access in normal locking mode, then the file
 * returns to WAL mode as a coordinator keeps it (should one have opened it already, it sets WAL
 * itself). bun:sqlite closes lazily while statements live, so the lock must not wait for that.
 */
function release(sqlite: Database): void {
  try {
    sqlite.run('PRAGMA locking_mode = NORMAL')
    sqlite.query('SELECT count(*) FROM sqlite_master').get()
    try {
      sqlite.run('PRAGMA journal_mode = WAL')
    } catch {
      // Another process has it open by now: it runs in WAL mode already.
    }
  } finally {
    sqlite.close()
  }
}

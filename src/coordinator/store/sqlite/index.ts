import { Database } from 'bun:sqlite'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { migrate } from '../../../db/sqlite/migrate'
import * as schema from '../../../db/sqlite/schema'
import { privateDir, privateFile } from '../../data-dir'
import type { Store } from '../types'
import { SqliteAccounts } from './accounts'
import { WriteBatch } from './batch'
import { sqliteCredits } from './credits'
import { SqliteDeadlines } from './deadlines'
import { sqliteFiles } from './files'
import { sqliteInvites } from './invites'
import { SqliteLeases } from './leases'
import { prepareHot } from './prepared'
import { SqliteQueue } from './queue'
import { withQueued } from './claim'
import { SqliteWorkflows } from './workflows'
import { cachedStatements } from './statements'
import { sqliteStats } from './stats'
import { sqliteWorkers } from './workers'

/**
 * The embedded engine: one SQLite file in WAL mode, for one coordinator. bun:sqlite is
 * synchronous, so every method runs whole before any other code does: each is atomic by itself.
 */
export function openSqlite(path: string): Store {
  if (path !== ':memory:') {
    // The server tightens an existing data directory; a new one is made private here.
    if (!existsSync(dirname(path))) privateDir(dirname(path))
    // SQLite gives the -wal and -shm files the database file's mode: made 0600 first, all three are.
    privateFile(path)
  }
  const sqlite = new Database(path, { create: true, strict: true })
  sqlite.run('PRAGMA journal_mode = WAL')
  sqlite.run('PRAGMA synchronous = NORMAL')
  sqlite.run('PRAGMA foreign_keys = ON')
  sqlite.run('PRAGMA busy_timeout = 5000')
  // Statement journals (a multi-row statement's undo, a savepoint's) in memory, not in temporary
  // files: one was created, written and closed some fifty times a second under load.
  sqlite.run('PRAGMA temp_store = MEMORY')
  // A checkpoint every 8,000 pages of WAL (32 MiB), not SQLite's 1,000: each copies the pages
  // changed since the last one into the database and syncs both files, on the thread that
  // commits, and the same few pages (an index's last leaf, the accounts) change in every commit.
  // Under load that was 18 checkpoints a second, and the dispatch bench ran 4% slower for them.
  // The WAL file keeps that size once reached (docs/TROUBLESHOOTING.md, a full disk), and with
  // synchronous = NORMAL a power cut may lose the commits since the last checkpoint, as before.
  sqlite.run('PRAGMA wal_autocheckpoint = 8000')
  migrate(sqlite)
  const db = drizzle(cachedStatements(sqlite), { schema })
  const batch = new WriteBatch(db, sqlite)
  const hot = prepareHot(db)
  return {
    engine: 'sqlite',
    accounts: new SqliteAccounts(db, sqlite, hot),
    invites: sqliteInvites(db),
    workers: sqliteWorkers(db, hot),
    files: sqliteFiles(db, sqlite),
    credits: sqliteCredits(db),
    queue: withQueued(new SqliteQueue(db, batch, hot, sqlite), db),
    leases: new SqliteLeases(db, batch, hot, sqlite),
    deadlines: new SqliteDeadlines(db, hot),
    workflows: new SqliteWorkflows(db, batch, sqlite),
    stats: sqliteStats(sqlite),
    // One file, one coordinator: nobody to tell, nobody to elect, and no server to lose.
    bus: { shared: false, publish: async () => {}, subscribe: async () => {} },
    leadership: { hold: async () => true, release: async () => {} },
    health: { problem: () => undefined },
    close: async () => sqlite.close(),
  }
}

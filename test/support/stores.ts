import { Database } from 'bun:sqlite'
import { SQL } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { openSqlite } from '../../src/coordinator/store/sqlite'
import type { Store } from '../../src/coordinator/store/types'
import { emptyDatabase, giveBack } from './pg-databases'

// Every store test runs on both engines, River-style: one suite each engine must pass, the few
// differences named in the test (`store.engine === 'sqlite'` for what only a file has).

/** One engine the shared store suites run on. */
export interface Engine {
  name: 'sqlite' | 'postgres'
  /** Opens a new, empty, migrated store (a fresh SQLite file, or an emptied PostgreSQL database). */
  open(): Promise<Store>
}

/** What `open` made for a store: where it is (a file path or a database URL), how to open it again, how to remove it. */
interface Made {
  where: string
  reopen: () => Promise<Store>
  cleanup: () => Promise<void>
}
const made = new WeakMap<Store, Made>()

/** The engines every shared store suite runs on; both always run (the PostgreSQL harness says what to install). */
export const ENGINES: readonly Engine[] = [
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'gridx-store-'))
      const path = join(dir, 'data', 'gridx.db')
      const store = openSqlite(path)
      made.set(store, {
        where: path,
        reopen: () => Promise.resolve(openSqlite(path)),
        cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
      })
      return Promise.resolve(store)
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const url = await emptyDatabase()
      const store = await openPostgres(url)
      made.set(store, {
        where: url,
        reopen: async () => await openPostgres(url),
        cleanup: async () => await giveBack(url),
      })
      return store
    },
  },
]

/** Where a store `Engine.open` made lives: its SQLite file's path or its database's URL. */
export function whereIs(store: Store): string {
  const m = made.get(store)
  if (!m) throw new Error('not a store made by ENGINES[].open')
  return m.where
}

/** Closes a store `Engine.open` made and opens the same file or database again (what a restart sees). */
export async function reopenStore(store: Store): Promise<Store> {
  const m = made.get(store)
  if (!m) throw new Error('not a store made by ENGINES[].open')
  made.delete(store)
  await store.close()
  const again = await m.reopen()
  made.set(again, m)
  return again
}

/** Closes a store `Engine.open` made and removes its file or database (a second call does nothing). */
export async function closeStore(store: Store | undefined): Promise<void> {
  if (!store) return
  const m = made.get(store)
  made.delete(store)
  await store.close()
  await m?.cleanup()
}

/** Every row of a table, read past the store (what a reader of the database file or server sees). */
export async function rowsOf(store: Store, table: string): Promise<unknown[]> {
  const where = whereIs(store)
  if (store.engine === 'sqlite') {
    const db = new Database(where, { readonly: true })
    try {
      return db.query(`SELECT * FROM "${table}"`).all()
    } finally {
      db.close()
    }
  }
  const sql = new SQL(where, { max: 1 })
  try {
    return await sql.unsafe(`SELECT * FROM "${table}"`)
  } finally {
    await sql.close()
  }
}

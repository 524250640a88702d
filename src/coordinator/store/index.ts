import { join } from 'node:path'
import { openPostgres } from './postgres'
import { openSqlite } from './sqlite'
import type { Store } from './types'

export type * from './types'
export { redactUrl } from '../../db/postgres/errors'

/** Where a coordinator keeps its state: SQLite in its data directory unless a database URL is given. */
export interface StoreOptions {
  dataDir: string
  /** `postgres://…`: the grid's shared PostgreSQL; unset, SQLite in `dataDir`. */
  database?: string | undefined
  /** Where the store tells of a database outage and its end. */
  log?: (line: string) => void
}

/** Opens (and migrates) the coordinator's store: PostgreSQL when a database URL is given, else SQLite. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.database !== undefined) return await openPostgres(opts.database, { log: opts.log })
  return openSqlite(join(opts.dataDir, 'gridx.db'))
}

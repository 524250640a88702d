import type { SQL } from 'bun'
import type { BunSQLDatabase, BunSQLQueryResultHKT } from 'drizzle-orm/bun-sql'
import type { PgDatabase } from 'drizzle-orm/pg-core'
import type * as schema from '../../../db/postgres/schema'

/**
 * The drizzle handle every PostgreSQL repository shares (a pool of connections), with its Bun
 * client: the per-job statements run on it directly as fixed, prepared texts.
 */
export type Db = BunSQLDatabase<typeof schema> & { $client: SQL }

/** The pool or one transaction on it: steps that run inside the caller's transaction take this. */
export type Tx = PgDatabase<BunSQLQueryResultHKT, typeof schema>

/** The SQLSTATE PostgreSQL answers a CHECK constraint violation with. */
export const CHECK_VIOLATION = '23514'

import { getTableColumns, getTableName } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import * as pg from '../../../db/postgres/schema'
import * as lite from '../../../db/sqlite/schema'

/** One table of a grid as both engines hold it: the same name and the same columns, by key. */
export interface TablePair {
  /** The SQL name, the same on both sides. */
  name: string
  sqlite: SQLiteTable
  postgres: PgTable
  /** The SQLite columns by their key (the JS name both schemas share). */
  columns: Readonly<Record<string, SQLiteColumn>>
}

/**
 * Every table of a grid in an order that satisfies the foreign keys: each after the tables it
 * names. One cycle remains (users name the invite they came with, invites their maker), which
 * the copy breaks by adding users' invites after the invites (see `DEFERRED`).
 */
const ORDER = [
  [lite.users, pg.users],
  [lite.invites, pg.invites],
  [lite.tokens, pg.tokens],
  [lite.workers, pg.workers],
  [lite.accounts, pg.accounts],
  [lite.transfers, pg.transfers],
  [lite.jobs, pg.jobs],
  [lite.attempts, pg.attempts],
  [lite.jobDeps, pg.jobDeps],
  [lite.uploads, pg.uploads],
  [lite.jobOutput, pg.jobOutput],
] as const

/** Columns a table's rows are first written without and filled in after every table is in. */
export const DEFERRED: Readonly<Record<string, readonly string[]>> = { users: ['inviteId'] }

/** Tables whose copy means a target is not empty: a grid has a user before anything else. */
export const GRID_TABLES = ['users', 'jobs', 'transfers'] as const

/**
 * The tables to copy, checked to match column for column: a column one schema has and the other
 * lacks would be lost silently, so it stops the copy (and the unit test) instead.
 */
export function tablePairs(): TablePair[] {
  return ORDER.map(([s, p]) => {
    const name = getTableName(s)
    const columns = getTableColumns(s) as Record<string, SQLiteColumn>
    const sCols = Object.entries(columns).map(([k, c]) => `${k}:${c.name}`)
    const pCols = Object.entries(getTableColumns(p as PgTable) as Record<string, PgColumn>).map(
      ([k, c]) => `${k}:${c.name}`,
    )
    if (name !== getTableName(p) || sCols.sort().join() !== pCols.sort().join()) {
      throw new Error(
        `the SQLite and PostgreSQL schemas of '${name}' differ: ${sCols.join()} / ${pCols.join()}`,
      )
    }
    return { name, sqlite: s, postgres: p, columns }
  })
}

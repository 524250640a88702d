import type { Database, SQLQueryBindings } from 'bun:sqlite'
import { sql } from 'drizzle-orm'
import * as pg from '../../../db/postgres/schema'
import type { Tx } from '../postgres/db'
import type { TablePair } from './tables'

/** How much one INSERT carries: a bound on memory (output chunks may be large) and on parameters. */
export interface BatchLimits {
  rows: number
  bytes: number
}

/** The default batch: PostgreSQL takes at most 65535 parameters in one statement. */
export const DEFAULT_BATCH: BatchLimits = { rows: 1000, bytes: 8 * 1024 * 1024 }

/** What copying one table did. */
export interface TableCopy {
  name: string
  rows: number
  ms: number
}

/** Rows per second, for the reports. */
export const rate = (rows: number, ms: number): number => Math.round((rows * 1000) / Math.max(ms, 1))

type Raw = Record<string, unknown>

/** The bytes a value takes in a batch (close enough to bound memory). */
function sizeOf(v: unknown): number {
  if (typeof v === 'string') return v.length
  if (v instanceof Uint8Array) return v.byteLength
  return 8
}

/**
 * Reads a SQLite table in rowid order, a batch at a time: a statement walks the rows from the
 * last rowid seen and stops when the batch is full, so no table is ever held whole in memory.
 */
export async function forEachBatch(
  sqlite: Database,
  query: string,
  limits: BatchLimits,
  each: (rows: Raw[]) => Promise<void>,
): Promise<void> {
  const stmt = sqlite.query<Raw, SQLQueryBindings[]>(query)
  let after = Number.MIN_SAFE_INTEGER
  for (;;) {
    const batch: Raw[] = []
    let bytes = 0
    for (const row of stmt.iterate(after)) {
      batch.push(row)
      for (const v of Object.values(row)) bytes += sizeOf(v)
      if (batch.length >= limits.rows || bytes >= limits.bytes) break
    }
    if (batch.length === 0) return
    after = batch.at(-1)!['__rowid'] as number
    await each(batch)
  }
}

/**
 * Copies one table from the SQLite source into the target transaction, row for row: ids,
 * times, sequence numbers, JSON arrays and blobs as stored (each value read through the SQLite
 * column and written through the PostgreSQL one, as the engines themselves do). `without` names
 * columns written as null, to be filled in later (a foreign key cycle).
 */
export async function copyTable(
  sqlite: Database,
  tx: Tx,
  pair: TablePair,
  opts: {
    limits: BatchLimits
    without?: readonly string[]
    progress: (rows: number, ms: number) => void
  },
): Promise<TableCopy> {
  const started = performance.now()
  const cols = Object.entries(pair.columns)
  // Each row of an INSERT takes one parameter per column.
  const rows = Math.max(1, Math.min(opts.limits.rows, Math.floor(60_000 / cols.length)))
  const without = new Set(opts.without ?? [])
  let copied = 0
  let reported = started
  await forEachBatch(
    sqlite,
    `SELECT rowid AS "__rowid", * FROM "${pair.name}" WHERE rowid > ?1 ORDER BY rowid`,
    { rows, bytes: opts.limits.bytes },
    async (batch) => {
      const values = batch.map((raw) => {
        const row: Record<string, unknown> = {}
        for (const [key, col] of cols) {
          const v = raw[col.name]
          row[key] = v === null || v === undefined || without.has(key) ? null : col.mapFromDriverValue(v)
        }
        return row
      })
      const insert = tx.insert(pair.postgres).values(values)
      // The target's migrations made the mint account (balance 0): the source's takes its place.
      await (pair.name === 'accounts'
        ? insert.onConflictDoUpdate({
            target: pg.accounts.id,
            set: { balance: sql`excluded.balance` },
          })
        : insert)
      copied += batch.length
      const now = performance.now()
      if (now - reported >= 2000) {
        reported = now
        opts.progress(copied, now - started)
      }
    },
  )
  return { name: pair.name, rows: copied, ms: performance.now() - started }
}

/** Fills in users' invites once the invites are in (users and invites name each other). */
export async function linkInvites(sqlite: Database, tx: Tx, limits: BatchLimits): Promise<number> {
  let linked = 0
  await forEachBatch(
    sqlite,
    `SELECT rowid AS "__rowid", id, invite_id FROM users WHERE rowid > ?1 AND invite_id IS NOT NULL ORDER BY rowid`,
    limits,
    async (batch) => {
      const values = sql.join(
        batch.map((r) => sql`(${String(r['id'])}, ${String(r['invite_id'])})`),
        sql`, `,
      )
      await tx.execute(
        sql`UPDATE users SET invite_id = v.invite_id FROM (VALUES ${values}) AS v(id, invite_id) WHERE users.id = v.id`,
      )
      linked += batch.length
    },
  )
  return linked
}

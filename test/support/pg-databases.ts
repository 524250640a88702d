import { SQL } from 'bun'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { freshDatabase } from './postgres'

// Migrated databases for the shared store suites, reused: CREATE DATABASE costs 50 to 400 ms on
// a loaded 2-core box (copying template1, or a migrated template, alike), emptying one a few ms.

/** A migrated database of the test cluster: its URL, and the rows the migrations seeded, by table. */
interface Migrated {
  url: string
  seeds: Map<string, string>
}

/** Migrated databases no store is open on, emptied, ready to hand out again. */
const spare: Migrated[] = []
/** The databases handed out, by URL. */
const lent = new Map<string, Migrated>()

/** Tables of the public schema the store owns (its migration record excluded: that stays). */
async function tables(sql: SQL): Promise<string[]> {
  const rows: { t: string }[] =
    await sql`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'gridx_migrations' ORDER BY tablename`
  return rows.map((r) => r.t)
}

async function migrated(): Promise<Migrated> {
  const url = await freshDatabase()
  await (await openPostgres(url, { maxConnections: 1 })).close()
  const sql = new SQL(url, { max: 1 })
  try {
    const seeds = new Map<string, string>()
    for (const t of await tables(sql)) {
      const [row]: { rows: string | null }[] = await sql.unsafe(
        `SELECT json_agg(t)::text AS rows FROM "${t}" t`,
      )
      if (row?.rows) seeds.set(t, row.rows)
    }
    return { url, seeds }
  } finally {
    await sql.close()
  }
}

/** A migrated database holding only what its migrations seeded; returns its URL. Give it back with `giveBack`. */
export async function emptyDatabase(): Promise<string> {
  const db = spare.pop() ?? (await migrated())
  lent.set(db.url, db)
  return db.url
}

/**
 * Empties a database `emptyDatabase` lent, once no store uses it, and keeps it for the next test:
 * every row deleted (the ledger's append-only triggers and the foreign keys off for this one
 * session: a test's reset, not an edit of history), sequences restarted, the seeds put back.
 */
export async function giveBack(url: string): Promise<void> {
  const db = lent.get(url)
  if (!db) return
  lent.delete(url)
  const sql = new SQL(url, { max: 1 })
  try {
    await sql.begin(async (tx) => {
      await tx`SET LOCAL session_replication_role = replica`
      for (const t of await tables(tx)) await tx.unsafe(`DELETE FROM "${t}"`)
      const seqs: { s: string }[] =
        await tx`SELECT quote_ident(sequencename) AS s FROM pg_sequences WHERE schemaname = 'public'`
      for (const { s } of seqs) await tx.unsafe(`ALTER SEQUENCE ${s} RESTART`)
      for (const [t, rows] of db.seeds) {
        await tx.unsafe(
          `INSERT INTO "${t}" SELECT * FROM json_populate_recordset(null::"${t}", $1::text::json)`,
          [rows],
        )
      }
    })
    spare.push(db)
  } finally {
    await sql.close()
  }
}

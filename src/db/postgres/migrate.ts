import type { SQL } from 'bun'
import { schemaNewer } from './errors'
import init from './migrations/0000_init.sql' with { type: 'text' }
import blobs from './migrations/0001_blobs.sql' with { type: 'text' }
import usersSeq from './migrations/0002_users_seq.sql' with { type: 'text' }
import queuedOrder from './migrations/0003_queued_order.sql' with { type: 'text' }
import dashboardIndexes from './migrations/0004_dashboard_indexes.sql' with { type: 'text' }
import jobMeta from './migrations/0005_job_meta.sql' with { type: 'text' }
import arraysDeps from './migrations/0006_arrays_deps.sql' with { type: 'text' }
import ownerIndexes from './migrations/0007_owner_indexes.sql' with { type: 'text' }
import transferParties from './migrations/0008_transfer_parties.sql' with { type: 'text' }
import heldSweep from './migrations/0009_held_sweep.sql' with { type: 'text' }

/** Migrations in order, embedded in the binary so it runs from any directory. Append, never edit. */
export const MIGRATIONS: readonly { id: string; sql: string }[] = [
  { id: '0000_init', sql: init },
  { id: '0001_blobs', sql: blobs },
  { id: '0002_users_seq', sql: usersSeq },
  { id: '0003_queued_order', sql: queuedOrder },
  { id: '0004_dashboard_indexes', sql: dashboardIndexes },
  { id: '0005_job_meta', sql: jobMeta },
  { id: '0006_arrays_deps', sql: arraysDeps },
  { id: '0007_owner_indexes', sql: ownerIndexes },
  { id: '0008_transfer_parties', sql: transferParties },
  { id: '0009_held_sweep', sql: heldSweep },
]

/**
 * The key of the advisory lock that serialises migration across coordinators (the bytes of
 * "gridx mg"): every coordinator starting on one database takes it before reading the schema.
 */
const MIGRATION_LOCK = 0x677269647820_6d67n

/**
 * Applies every migration not yet applied, all in one transaction under an advisory lock, so two
 * coordinators starting at once apply each migration once (the second waits, then finds them
 * done). A database holding a migration this binary does not know was made by a newer gridx:
 * refused before anything is changed. Returns the ids applied now.
 */
export async function migrate(sql: SQL): Promise<string[]> {
  return await sql.begin(async (tx) => {
    // The transaction-scoped lock is released by the commit or rollback, even if this process dies.
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`
    await tx`CREATE TABLE IF NOT EXISTS gridx_migrations (id text PRIMARY KEY, applied_at bigint NOT NULL)`
    const rows: { id: string }[] = await tx`SELECT id FROM gridx_migrations ORDER BY id`
    const applied = new Set(rows.map((r) => r.id))
    const known = new Set(MIGRATIONS.map((m) => m.id))
    const unknown = [...applied].filter((id) => !known.has(id)).sort()
    if (unknown.length > 0) throw schemaNewer(unknown[unknown.length - 1]!, MIGRATIONS.at(-1)!.id)
    const done: string[] = []
    for (const m of MIGRATIONS) {
      if (applied.has(m.id)) continue
      for (const stmt of m.sql.split('--> statement-breakpoint')) {
        if (stmt.trim()) await tx.unsafe(stmt)
      }
      await tx`INSERT INTO gridx_migrations (id, applied_at) VALUES (${m.id}, ${Date.now()})`
      done.push(m.id)
    }
    return done
  })
}

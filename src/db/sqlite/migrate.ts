import type { Database } from 'bun:sqlite'
import init from './migrations/0000_init.sql' with { type: 'text' }
import ledger from './migrations/0001_ledger.sql' with { type: 'text' }
import attemptsSql from './migrations/0002_attempts.sql' with { type: 'text' }
import files from './migrations/0003_files.sql' with { type: 'text' }
import filesRoom from './migrations/0004_files_room.sql' with { type: 'text' }
import outputsMeasured from './migrations/0005_outputs_measured.sql' with { type: 'text' }
import deadlines from './migrations/0006_deadlines.sql' with { type: 'text' }
import invites from './migrations/0007_invites.sql' with { type: 'text' }
import jobRequirements from './migrations/0008_job_requirements.sql' with { type: 'text' }
import dashboardIndexes from './migrations/0009_dashboard_indexes.sql' with { type: 'text' }
import jobMeta from './migrations/0010_job_meta.sql' with { type: 'text' }
import arraysDeps from './migrations/0011_arrays_deps.sql' with { type: 'text' }
import ownerIndexes from './migrations/0012_owner_indexes.sql' with { type: 'text' }
import transferParties from './migrations/0013_transfer_parties.sql' with { type: 'text' }
import heldSweep from './migrations/0014_held_sweep.sql' with { type: 'text' }
import liveIndex from './migrations/0015_live_index.sql' with { type: 'text' }

/** Migrations in order, embedded in the binary so it runs from any directory. Append, never edit. */
export const MIGRATIONS: readonly { id: string; sql: string }[] = [
  { id: '0000_init', sql: init },
  { id: '0001_ledger', sql: ledger },
  { id: '0002_attempts', sql: attemptsSql },
  { id: '0003_files', sql: files },
  { id: '0004_files_room', sql: filesRoom },
  { id: '0005_outputs_measured', sql: outputsMeasured },
  { id: '0006_deadlines', sql: deadlines },
  { id: '0007_invites', sql: invites },
  { id: '0008_job_requirements', sql: jobRequirements },
  { id: '0009_dashboard_indexes', sql: dashboardIndexes },
  { id: '0010_job_meta', sql: jobMeta },
  { id: '0011_arrays_deps', sql: arraysDeps },
  { id: '0012_owner_indexes', sql: ownerIndexes },
  { id: '0013_transfer_parties', sql: transferParties },
  { id: '0014_held_sweep', sql: heldSweep },
  { id: '0015_live_index', sql: liveIndex },
]

/** Applies every migration not yet applied, each in its own transaction. */
export function migrate(db: Database): void {
  db.run('CREATE TABLE IF NOT EXISTS gridx_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)')
  const applied = new Set(
    db
      .query<{ id: string }, []>('SELECT id FROM gridx_migrations')
      .all()
      .map((r) => r.id),
  )
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue
    db.transaction(() => {
      for (const stmt of m.sql.split('--> statement-breakpoint')) {
        if (stmt.trim()) db.run(stmt)
      }
      db.run('INSERT INTO gridx_migrations (id, applied_at) VALUES (?, ?)', [m.id, Date.now()])
    })()
  }
}

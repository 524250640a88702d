import type { Database } from 'bun:sqlite'
import { sql } from 'drizzle-orm'
import { dirname, join } from 'node:path'
import { redactUrl } from '../../../db/postgres/errors'
import { GridError } from '../../../errors'
import { pgCredits } from '../postgres/credits'
import type { Tx } from '../postgres/db'
import { connectPostgres } from '../postgres/index'
import { audit as pgAudit } from '../postgres/ledger'
import { sqliteCredits } from '../sqlite/credits'
import type { Audit } from '../types'
import { type BatchLimits, copyTable, DEFAULT_BATCH, linkInvites, rate, type TableCopy } from './copy'
import { type FileDestination, type FilesMoved, moveFiles, postgresDestination } from './files'
import { openSource } from './source'
import { GRID_TABLES, tablePairs } from './tables'

export { directoryDestination, type FileDestination, type FilesMoved } from './files'
export type { TableCopy } from './copy'

/** What `gridx migrate` moves, from where to where. */
export interface MigrateOptions {
  /** The SQLite file of the stopped coordinator (or its data directory). */
  from: string
  /** The PostgreSQL URL of an empty database. */
  to: string
  /** The source's stored files (default: `blobs` beside the database file). */
  fromBlobs?: string | undefined
  /** Where the stored files go; undefined: they stay where they are (counted, not copied). */
  /** Where the stored files go: a directory, the target database's chunks, or nowhere (counted only). */
  files?: FileDestination | 'postgres' | undefined
  limits?: BatchLimits
  /** Progress lines, as the copy goes. */
  log: (line: string) => void
}

/** What a migration did, verified. */
export interface MigrateSummary {
  source: string
  /** The target URL, its password redacted. */
  target: string
  /** Migrations the source lacked and got before the copy. */
  upgraded: string[]
  tables: TableCopy[]
  /** The ledger audit, equal on both sides. */
  audit: Audit
  files: FilesMoved & { from: string }
  ms: number
}

const AUDIT_KEYS = [
  'minted',
  'balances',
  'escrow',
  'escrowDue',
  'mintBalance',
  'negativeAccounts',
  'transfers',
  'ok',
] as const

/** The audit figures that differ between two audits, as `name a/b` (none: equal). */
function auditDiff(a: Audit, b: Audit): string[] {
  return AUDIT_KEYS.filter((k) => a[k] !== b[k]).map((k) => `${k} ${String(a[k])}/${String(b[k])}`)
}

const mismatch = (what: string) =>
  new GridError(
    'migrate_mismatch',
    `the copy does not match the source (${what}, source/target): nothing was kept in the target database, which is still empty; run gridx migrate again, and report it if it happens again`,
  )

/**
 * Moves a stopped coordinator's SQLite grid into an empty PostgreSQL database: every table row
 * for row in one transaction on the target (a failure leaves it empty), verified before the
 * commit (rows per table and the ledger audit equal on both sides, and the audit exact), then
 * the stored files. The source stays locked, and unchanged, throughout.
 */
export async function migrateGrid(opts: MigrateOptions): Promise<MigrateSummary> {
  const started = performance.now()
  const limits = opts.limits ?? DEFAULT_BATCH
  const pairs = tablePairs()
  const source = openSource(opts.from)
  try {
    if (source.upgraded.length > 0) {
      opts.log(`brought ${source.path} up to this gridx's schema first (${source.upgraded.join(', ')})`)
    }
    const before = await sqliteCredits(source.db).audit()
    if (!before.ok) {
      throw new GridError(
        'migrate_source_audit',
        `the ledger of ${source.path} does not add up (minted ${before.minted}, balances ${before.balances} + escrow ${before.escrow}, live jobs that may cost ${before.escrowDue}, ${before.negativeAccounts} negative accounts): it is not moved; restore the file from a backup`,
      )
    }
    const fromBlobs = opts.fromBlobs ?? join(dirname(source.path), 'blobs')
    const target = await connectPostgres(opts.to, { maxConnections: 2 })
    try {
      let files: FilesMoved | undefined
      const tables = await target.db.transaction(async (tx) => {
        // Held to the commit: a coordinator, or a second migration, on the target waits for this one.
        await tx.execute(
          sql`LOCK TABLE users, invites, tokens, workers, accounts, transfers, jobs, attempts, job_deps, uploads, job_output IN EXCLUSIVE MODE`,
        )
        await refuseNonEmpty(tx, opts.to)
        const copied: TableCopy[] = []
        for (const pair of pairs) {
          const t = await copyTable(source.sqlite, tx, pair, {
            limits,
            without: pair.name === 'users' ? ['inviteId'] : [],
            progress: (rows, ms) =>
              opts.log(`  ${pair.name}: ${rows} rows so far (${rate(rows, ms)} rows/s)`),
          })
          opts.log(
            `${pair.name}: ${t.rows} rows in ${(t.ms / 1000).toFixed(1)} s (${rate(t.rows, t.ms)} rows/s)`,
          )
          copied.push(t)
        }
        await linkInvites(source.sqlite, tx, limits)
        // New transfers continue the numbering after the copied ones.
        await tx.execute(
          sql`SELECT setval(pg_get_serial_sequence('transfers', 'seq'), coalesce(max(seq), 1), max(seq) IS NOT NULL) FROM transfers`,
        )
        await verify(tx, source.sqlite, copied, before)
        const dest = opts.files === 'postgres' ? postgresDestination(tx) : opts.files
        files = await moveFiles(fromBlobs, dest, (n, bytes, ms) =>
          opts.log(`  stored files: ${n} so far (${bytes} bytes, ${rate(n, ms)} files/s)`),
        )
        return copied
      })
      // Once more through the store's own audit, on what was committed.
      const after = await pgCredits(target.db).audit()
      const diff = auditDiff(before, after)
      if (diff.length > 0 || !after.ok) {
        throw new GridError(
          'migrate_audit_after',
          `the target's ledger audit differs from the source's after the commit (${diff.join(', ') || 'not ok'}, source/target): do not start coordinators on it; drop the database, create it empty and run gridx migrate again`,
        )
      }
      return {
        source: source.path,
        target: redactUrl(opts.to),
        upgraded: source.upgraded,
        tables,
        audit: after,
        files: { ...files!, from: fromBlobs },
        ms: performance.now() - started,
      }
    } finally {
      await target.client.close()
    }
  } finally {
    source.close()
  }
}

/** Refuses a target that already holds any grid: the copy keeps ids, and would mix two grids. */
async function refuseNonEmpty(tx: Tx, url: string): Promise<void> {
  const found: string[] = []
  for (const table of GRID_TABLES) {
    const [row] = await tx.execute(sql.raw(`SELECT count(*)::int8 AS n FROM ${table}`))
    const n = Number(row?.['n'] ?? 0)
    if (n > 0) found.push(`${n} ${table}`)
  }
  if (found.length === 0) return
  throw new GridError(
    'migrate_target_not_empty',
    `the database ${redactUrl(url)} is not empty (it holds ${found.join(', ')}): gridx migrate moves a grid only into an empty database. Create one (sudo -u postgres createdb --owner=USER NAME) and give its URL to --to`,
  )
}

/** Rows per table and the ledger audit, source against target, inside the target's transaction. */
async function verify(tx: Tx, sqlite: Database, copied: TableCopy[], before: Audit): Promise<void> {
  const diffs: string[] = []
  for (const t of copied) {
    const src = sqlite.query<{ n: number }, []>(`SELECT count(*) AS n FROM "${t.name}"`).get()?.n ?? 0
    const [row] = await tx.execute(sql.raw(`SELECT count(*)::int8 AS n FROM ${t.name}`))
    const dst = Number(row?.['n'] ?? 0)
    if (src !== dst || src !== t.rows) diffs.push(`${t.name} ${src}/${dst} rows`)
  }
  const after = await pgAudit(tx)
  diffs.push(...auditDiff(before, after).map((d) => `ledger ${d}`))
  if (!after.ok && diffs.length === 0) diffs.push('the ledger audit fails')
  if (diffs.length > 0) throw mismatch(diffs.join(', '))
}

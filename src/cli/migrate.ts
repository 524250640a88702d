import { join, resolve } from 'node:path'
import { loadConfig } from '../config'
import { directoryDestination, migrateGrid, type MigrateSummary } from '../coordinator/store/migrate'
import { GridError } from '../errors'
import { formatCredits } from '../protocol/credits'
import { formatBytes } from '../protocol/units'
import { note, out } from './options'
import { marks } from './style'

/** The flags yargs parses for this command. */
export type Flags = { from?: string; to?: string; fromBlobs?: string; toBlobDir?: string; json?: boolean }

/**
 * `gridx migrate`: moves a stopped coordinator's SQLite grid into an empty PostgreSQL database,
 * verified; prints what moved. Exit 0 only when both sides agree.
 */
export async function migrate(flags: Flags): Promise<number> {
  // --to, then GRIDX_DATABASE_URL, then `database` in config.json: the database the coordinators will use.
  const config = loadConfig({ database: flags.to })
  const to = config.database
  if (!to) {
    throw new GridError(
      'usage',
      'name the PostgreSQL database to move the grid into: --to postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set GRIDX_DATABASE_URL)',
    )
  }
  const from = resolve(
    flags.from ?? join(config.file.dataDir ?? join(config.home, 'coordinator'), 'gridx.db'),
  )
  const summary = await migrateGrid({
    from,
    to,
    fromBlobs: flags.fromBlobs === undefined ? undefined : resolve(flags.fromBlobs),
    // The new coordinators keep job files in the database unless they are given a --blob-dir.
    files: flags.toBlobDir === undefined ? 'postgres' : directoryDestination(resolve(flags.toBlobDir)),
    log: note,
  })
  if (flags.json) out(JSON.stringify(summary))
  else for (const line of render(summary)) out(line)
  return 0
}

/** The summary an operator reads. */
function render(s: MigrateSummary): string[] {
  const rows = s.tables.reduce((n, t) => n + t.rows, 0)
  const width = Math.max(...s.tables.map((t) => t.name.length))
  const a = s.audit
  const f = s.files
  return [
    `${marks().ok} moved ${s.source} into ${s.target} in ${(s.ms / 1000).toFixed(1)} s (${rows} rows)`,
    ...s.tables.map((t) => `  ${t.name.padEnd(width)}  ${String(t.rows).padStart(9)} rows`),
    `  ledger: ${formatCredits(a.minted)} credits minted = ${formatCredits(a.balances)} in balances + ${formatCredits(a.escrow)} in escrow, ${a.transfers} transfers; the audit is exact and the same on both sides`,
    f.where === undefined
      ? `  stored files: ${f.files} (${formatBytes(f.bytes)}) left in ${f.from}: give the new coordinators a data directory whose blobs folder holds them (or copy them with --to-blob-dir)`
      : `  stored files: ${f.files} (${formatBytes(f.bytes)}) in ${f.where}, ${f.copied} copied, each checked against its SHA-256`,
    `next: start the coordinators with gridx serve --database ${s.target}`,
  ]
}

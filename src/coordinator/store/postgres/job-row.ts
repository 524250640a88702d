import { getTableColumns } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { JobRow } from '../../../db/sqlite/schema'
import type { NewJob, QueuedJob } from '../types'

// The job row for the hot statements written as fixed SQL text (see lease-sql.ts): built from
// drizzle's own column definitions, so a row read or written here has exactly the shape and the
// conversions (int8 as numbers, jsonb arrays, bytea as Buffer) drizzle's builder gives it.

const columns = Object.entries(getTableColumns(schema.jobs))

/** Every column of `jobs`, quoted, in table order: `"id", "owner_id", ...`. */
export const JOB_COLUMNS = columns.map(([, c]) => `"${c.name}"`).join(', ')

/** The same without `script` (it can be megabytes), as the queue views read it. */
export const QUEUED_COLUMNS = columns
  .filter(([key]) => key !== 'script')
  .map(([, c]) => `"${c.name}"`)
  .join(', ')

/** A row PostgreSQL returned (snake_case, driver values) as the engine-neutral job row. */
export function toJobRow(raw: Record<string, unknown>): JobRow {
  const row: Record<string, unknown> = {}
  for (const [key, c] of columns) {
    if (!(c.name in raw)) continue
    const v = raw[c.name]
    row[key] = v === null || v === undefined ? null : c.mapFromDriverValue(v)
  }
  return row as unknown as JobRow
}

/** `toJobRow` for rows read without their script. */
export const toQueuedJob = (raw: Record<string, unknown>): QueuedJob => toJobRow(raw)

/** What a new job's columns hold when the submission gives none (the table's defaults). */
const DEFAULTS: Partial<JobRow> = {
  state: 'queued',
  attempt: 0,
  priority: 0,
  outputBytes: 0,
  requirements: [],
  installFailedOn: [],
  labels: {},
  env: {},
  held: false,
  hasDependents: false,
}

/**
 * `$n::type` for every column of a new job, in `JOB_COLUMNS` order, starting at `$first`: the
 * types are spelled out because the values are selected (INSERT ... SELECT), not inserted as VALUES.
 */
export function jobParams(first: number): string {
  return columns.map(([, c], i) => `$${first + i}::${c.getSQLType()}`).join(', ')
}

/** A new queued job's values for `jobParams`, each converted for the driver as drizzle would. */
export function jobValues(job: NewJob): unknown[] {
  const row: Record<string, unknown> = { ...DEFAULTS, ...job, state: 'queued' }
  return columns.map(([key, c]) => {
    const v = row[key]
    return v === null || v === undefined ? null : c.mapToDriverValue(v)
  })
}

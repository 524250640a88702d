// What PostgreSQL did per job (BENCH_PG_STATEMENTS=1): the statements of a dispatch run from
// pg_stat_statements, as calls and execution time per job, so issue 15 can see which query
// costs what (round trips are calls; BEGIN and COMMIT count too), and what it wrote to the WAL:
// a row's every index entry is a WAL record, so the records show which statement's rows cost most.
import { SQL } from 'bun'

/** One statement's share of a run. */
export interface StatementCost {
  query: string
  callsPerJob: number
  /** Execution time inside PostgreSQL per job, milliseconds (not the round trip). */
  msPerJob: number
  rowsPerJob: number
  /** WAL records this statement wrote per job (a heap tuple or an index entry each, mostly). */
  walRecordsPerJob: number
  /** WAL bytes per job, full-page images included. */
  walBytesPerJob: number
}

/** The totals over every statement per job. */
export interface StatementTotals {
  calls: number
  ms: number
  walRecords: number
  walBytes: number
}

/** Loads pg_stat_statements into a database of a cluster started with it preloaded, and clears it. */
export async function resetStatements(url: string): Promise<void> {
  const sql = new SQL(url, { max: 1 })
  try {
    await sql.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    await sql.unsafe('SELECT pg_stat_statements_reset()')
  } finally {
    await sql.close()
  }
}

/**
 * The statements run in `url`'s database since the reset, most called first, per job. Statements
 * whose shown text is the same are one line: a batch's INSERT is a new statement for each size of
 * batch, and only their sum says what submissions cost.
 */
export async function statementCosts(url: string, jobs: number, top = 25): Promise<StatementCost[]> {
  const sql = new SQL(url, { max: 1 })
  try {
    const rows = (await sql.unsafe(
      `SELECT query, calls::float8 AS calls, total_exec_time AS ms, rows::float8 AS rows,
              wal_records::float8 AS wal_records, wal_bytes::float8 AS wal_bytes
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'`,
    )) as { query: string; calls: number; ms: number; rows: number; wal_records: number; wal_bytes: number }[]
    const lines = new Map<string, StatementCost>()
    for (const r of rows) {
      const query = r.query.replace(/\s+/g, ' ').slice(0, 160)
      const line = lines.get(query) ?? {
        query,
        callsPerJob: 0,
        msPerJob: 0,
        rowsPerJob: 0,
        walRecordsPerJob: 0,
        walBytesPerJob: 0,
      }
      line.callsPerJob += r.calls / jobs
      line.msPerJob += r.ms / jobs
      line.rowsPerJob += r.rows / jobs
      line.walRecordsPerJob += r.wal_records / jobs
      line.walBytesPerJob += r.wal_bytes / jobs
      lines.set(query, line)
    }
    return [...lines.values()].sort((a, b) => b.callsPerJob - a.callsPerJob).slice(0, top)
  } finally {
    await sql.close()
  }
}

/** The totals over every statement since the reset, per job. */
export async function statementTotals(url: string, jobs: number): Promise<StatementTotals> {
  const sql = new SQL(url, { max: 1 })
  try {
    const [r] = (await sql.unsafe(
      `SELECT coalesce(sum(calls), 0)::float8 AS calls, coalesce(sum(total_exec_time), 0) AS ms,
              coalesce(sum(wal_records), 0)::float8 AS wal_records, coalesce(sum(wal_bytes), 0)::float8 AS wal_bytes
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'`,
    )) as { calls: number; ms: number; wal_records: number; wal_bytes: number }[]
    return {
      calls: (r?.calls ?? 0) / jobs,
      ms: (r?.ms ?? 0) / jobs,
      walRecords: (r?.wal_records ?? 0) / jobs,
      walBytes: (r?.wal_bytes ?? 0) / jobs,
    }
  } finally {
    await sql.close()
  }
}

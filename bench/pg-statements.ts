// What PostgreSQL did per job (BENCH_PG_STATEMENTS=1): the statements of a dispatch run from
// pg_stat_statements, as calls and execution time per job, so issue 15 can see which query
// costs what (round trips are calls; BEGIN and COMMIT count too).
import { SQL } from 'bun'

/** One statement's share of a run. */
export interface StatementCost {
  query: string
  callsPerJob: number
  /** Execution time inside PostgreSQL per job, milliseconds (not the round trip). */
  msPerJob: number
  rowsPerJob: number
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

/** The statements run in `url`'s database since the reset, costliest first, per job. */
export async function statementCosts(url: string, jobs: number, top = 25): Promise<StatementCost[]> {
  const sql = new SQL(url, { max: 1 })
  try {
    const rows = (await sql.unsafe(
      `SELECT query, calls::float8 AS calls, total_exec_time AS ms, rows::float8 AS rows
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'
        ORDER BY calls DESC`,
    )) as { query: string; calls: number; ms: number; rows: number }[]
    return rows.slice(0, top).map((r) => ({
      query: r.query.replace(/\s+/g, ' ').slice(0, 160),
      callsPerJob: r.calls / jobs,
      msPerJob: r.ms / jobs,
      rowsPerJob: r.rows / jobs,
    }))
  } finally {
    await sql.close()
  }
}

/** The totals over every statement since the reset, per job. */
export async function statementTotals(url: string, jobs: number): Promise<{ calls: number; ms: number }> {
  const sql = new SQL(url, { max: 1 })
  try {
    const [r] = (await sql.unsafe(
      `SELECT coalesce(sum(calls), 0)::float8 AS calls, coalesce(sum(total_exec_time), 0) AS ms
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'`,
    )) as { calls: number; ms: number }[]
    return { calls: (r?.calls ?? 0) / jobs, ms: (r?.ms ?? 0) / jobs }
  } finally {
    await sql.close()
  }
}

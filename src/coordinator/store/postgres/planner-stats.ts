import type { SQL } from 'bun'
import { sqlState } from '../../../db/postgres/errors'

/**
 * The tables whose planner statistics the leader keeps fresh: every job's four steps change
 * them, and their statements' plans follow the statistics.
 */
const TABLES = ['jobs', 'attempts', 'accounts', 'transfers'] as const

/** Rows changed since a table's last analysis before it is analysed again: at least this many... */
const MIN_CHANGES = 1000
/** ...and at least this share of its rows (autovacuum's own default share). */
const CHANGED_SHARE = 0.1
/** The least time between two analyses of one table, however fast it changes. */
const MIN_INTERVAL_MS = 5000
/** How long ANALYZE waits for a table another command holds (below the deadlock timeout, 1 s). */
const LOCK_TIMEOUT_MS = 100
/** lock_not_available: the lock timeout passed. */
const LOCK_NOT_AVAILABLE = '55P03'

/**
 * Analyses the hot tables once enough of them changed, instead of waiting for autovacuum, which
 * looks only once a minute (autovacuum_naptime). A grid's tables change fast, and the planner
 * goes by what it last saw: on a database a burst of submissions had grown from nothing, it took
 * the 10,000 jobs for a handful and read every queued or live job to find a batch's few, or the
 * whole table (the dispatch bench, auto_explain: PostgreSQL's CPU a job 0.97-1.39 ms with
 * autovacuum alone, 0.54-0.65 ms analysed each second). ANALYZE reads a sample (30,000 rows at
 * most) and blocks no reads or writes, but it waits for a VACUUM of the table, and past the
 * deadlock timeout it would cancel an autovacuum: each is given up after LOCK_TIMEOUT and tried
 * at the next turn. A database user that does not own the tables cannot analyse them (PostgreSQL
 * only warns): that is said once, and autovacuum is left to it. Returns the tables it analysed.
 */
export function plannerStats(client: SQL, log: (line: string) => void, now: () => number = Date.now) {
  const last = new Map<string, number>()
  let owned: boolean | undefined
  const owns = async () => {
    const rows: { all: boolean | null }[] = await client.unsafe(
      `SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE')) AS all FROM pg_class c
       WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY ($1::text[])`,
      [[...TABLES]],
    )
    return rows[0]?.all === true
  }
  return {
    async freshen(): Promise<string[]> {
      if (owned === undefined) {
        owned = await owns()
        if (!owned)
          log(
            "the database user does not own the grid's tables, so it cannot analyse them: their planner statistics are left to autovacuum (run gridx serve as the user that made them)",
          )
      }
      if (!owned) return []
      const rows: { name: string }[] = await client.unsafe(
        `SELECT relname AS name FROM pg_stat_user_tables
         WHERE schemaname = current_schema() AND relname = ANY ($1::text[])
           AND n_mod_since_analyze >= greatest($2::bigint, $3::float8 * n_live_tup)`,
        [[...TABLES], MIN_CHANGES, CHANGED_SHARE],
      )
      const due = rows
        .map((r) => r.name)
        .filter((name) => (TABLES as readonly string[]).includes(name))
        .filter((name) => now() - (last.get(name) ?? -Infinity) >= MIN_INTERVAL_MS)
      const done: string[] = []
      for (const name of due) {
        last.set(name, now())
        try {
          await client.begin(async (tx) => {
            await tx.unsafe(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`)
            // A name from TABLES, never from the database's answer as such.
            await tx.unsafe(`ANALYZE ${name}`)
          })
          done.push(name)
        } catch (err) {
          // A VACUUM holds the table (lock_timeout): the next turn tries again.
          if (sqlState(err) !== LOCK_NOT_AVAILABLE) throw err
        }
      }
      return done
    },
  }
}

/** What the leader calls each sweep (see `plannerStats`). */
export type PlannerStats = ReturnType<typeof plannerStats>

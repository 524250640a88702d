import type { SQL } from 'bun'
import type { Leadership } from '../types'

/** The advisory lock the sweeping coordinator holds (any fixed 64-bit number; "gridx" in ASCII). */
const SWEEPER_LOCK = 0x6772696478

/**
 * How the server finds a holder whose machine went off (no FIN, no reset): keepalives after 5 s
 * of silence, 2 s apart, 3 unanswered end the session (its data unacknowledged 10 s does too),
 * so the lock is free some 11 s later instead of after the kernel's default of two hours.
 */
const DEAD_PEER_SETTINGS = {
  tcp_keepalives_idle: 5,
  tcp_keepalives_interval: 2,
  tcp_keepalives_count: 3,
  tcp_user_timeout: 10_000,
}

/**
 * The sweeper election: whoever holds a session-level advisory lock on a connection of its own
 * runs the sweeps. PostgreSQL drops the lock with the session, so when its holder dies (or its
 * connection does, or its machine goes off: see DEAD_PEER_SETTINGS) another coordinator takes it
 * at its next try, within a sweep period.
 */
export function pgLeadership(client: SQL): Leadership {
  let conn: Awaited<ReturnType<SQL['reserve']>> | undefined
  let held = false
  const drop = () => {
    const c = conn
    conn = undefined
    held = false
    // A dead connection is closed rather than given back to the pool.
    c?.close().catch(() => {})
  }
  return {
    hold: async () => {
      try {
        if (!conn) {
          conn = await client.reserve()
          for (const [name, value] of Object.entries(DEAD_PEER_SETTINGS)) {
            await conn`SELECT set_config(${name}, ${String(value)}, false)`
          }
        }
        if (held) {
          // Still ours only while the session lives: a query on it says so.
          await conn`SELECT 1`
          return true
        }
        const rows: { got: boolean }[] = await conn`SELECT pg_try_advisory_lock(${SWEEPER_LOCK}) AS got`
        held = rows[0]?.got === true
        return held
      } catch {
        drop()
        return false
      }
    },
    release: async () => {
      if (conn && held) await conn`SELECT pg_advisory_unlock(${SWEEPER_LOCK})`.catch(() => {})
      drop()
    },
  }
}

import { GridError } from '../../errors'

/** The oldest PostgreSQL Grid-X runs on (`server_version_num`): see `MIN_VERSION_WHY`. */
export const MIN_SERVER_VERSION = 130000

/**
 * Why 13: the schema itself needs 11 (`EXECUTE FUNCTION` triggers), but 11 and 12 are past their
 * end of life upstream and in the distributions, so nobody tests Grid-X on them.
 */
const MIN_VERSION_WHY = 'releases before 13 are past their end of life and untested with Grid-X'

/** A database URL fit to print: its password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
  }
}

/** Host, port and database named by a PostgreSQL URL (with libpq's defaults). */
export function target(url: string): { host: string; port: string; database: string; user: string } {
  const u = new URL(url)
  const user = decodeURIComponent(u.username) || 'postgres'
  return {
    host: u.hostname || 'localhost',
    port: u.port || '5432',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || user,
    user,
  }
}

/**
 * The SQLSTATE of a server error, whichever way the driver carries it (Bun.SQL: `errno`), also
 * when drizzle wrapped it (its query error holds the driver's as `cause`).
 */
export function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    const { errno, code, cause } = e as { errno?: unknown; code?: unknown; cause?: unknown }
    for (const v of [errno, code]) if (typeof v === 'string' && /^[0-9A-Z]{5}$/.test(v)) return v
    e = cause
  }
  return undefined
}

/** The driver's own error code (`ERR_POSTGRES_CONNECTION_REFUSED`, `ECONNREFUSED`, ...). */
function driverCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return ''
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : ''
}

/**
 * The clear error for a failure to open a session on the database, or undefined when the failure
 * is not one of opening (a query's own error). Never says the password.
 */
export function connectError(err: unknown, url: string, timeoutS: number): GridError | undefined {
  const t = target(url)
  const where = `${t.host}:${t.port}`
  const code = driverCode(err)
  const state = sqlState(err)
  const opts = { cause: err, status: 503 }
  if (/REFUSED/.test(code)) {
    return new GridError(
      'database_unreachable',
      `cannot reach the PostgreSQL database at ${where}: connection refused (no PostgreSQL listens there): check --database (${redactUrl(url)}) and that the server runs`,
      { ...opts, retryable: true },
    )
  }
  if (/TIMEOUT|TIMEDOUT/.test(code)) {
    return new GridError(
      'database_unreachable',
      `cannot reach the PostgreSQL database at ${where}: timed out after ${timeoutS} s with no answer (a firewall dropping the traffic, or a wrong address?)`,
      { ...opts, retryable: true },
    )
  }
  if (/ENOTFOUND|EAI_|DNS|ECONNRESET|CONNECTION_CLOSED|EHOSTUNREACH|ENETUNREACH/.test(code)) {
    return new GridError(
      'database_unreachable',
      `cannot reach the PostgreSQL database at ${where}: ${err instanceof Error ? err.message : code}`,
      { ...opts, retryable: true },
    )
  }
  if (state === '28P01' || state === '28000') {
    return new GridError(
      'database_auth_failed',
      `PostgreSQL at ${where} refused the login of '${t.user}' (wrong password, or pg_hba.conf does not admit it): check the user and password in --database`,
      opts,
    )
  }
  if (state === '3D000') {
    return new GridError(
      'database_missing',
      `PostgreSQL at ${where} has no database '${t.database}': create it first (createdb -h ${t.host} -p ${t.port} -U ${t.user} ${t.database}, or CREATE DATABASE ${t.database} OWNER ${t.user} as a superuser)`,
      opts,
    )
  }
  return undefined
}

/** The error for a server older than `MIN_SERVER_VERSION`. */
export function tooOld(url: string, versionNum: number, version: string): GridError {
  const t = target(url)
  return new GridError(
    'database_too_old',
    `PostgreSQL at ${t.host}:${t.port} is version ${version}: Grid-X needs PostgreSQL ${MIN_SERVER_VERSION / 10000} or newer (${MIN_VERSION_WHY}); upgrade the server`,
    { status: 503, cause: versionNum },
  )
}

/** The error for a database migrated by a newer gridx than this one. */
export function schemaNewer(newest: string, known: string): GridError {
  return new GridError(
    'database_schema_newer',
    `the database's schema is newer than this gridx (it has migration ${newest}; this binary knows up to ${known}): run a newer gridx release, the one that made it or later`,
    { status: 503 },
  )
}

/**
 * The 503 for a query that failed because the database went away while the coordinator runs
 * (refused, reset, timed out, shutting down, starting up, no connection); undefined for a query's
 * own error. A retry may succeed once the database is back.
 */
export function unavailable(err: unknown, url: string): GridError | undefined {
  if (err instanceof GridError) return err.code === 'database_unreachable' ? err : undefined
  const state = sqlState(err)
  // 08: connection exceptions; 57P01-57P03: the server shuts down or is not yet accepting.
  const lost = state !== undefined && (state.startsWith('08') || /^57P0[123]$/.test(state))
  const code = driverCode(causeOf(err))
  const dropped =
    /CONNECTION|REFUSED|TIMEOUT|TIMEDOUT|ECONNRESET|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH/.test(code)
  if (!lost && !dropped) return undefined
  const t = target(url)
  // The driver's own words ("Connection closed"), not drizzle's wrapper: that one quotes the
  // query and its parameters (a token's hash), and this message goes to users and /health.
  const inner = causeOf(err)
  const why = inner instanceof Error ? inner.message : String(inner)
  return new GridError(
    'database_unreachable',
    `the PostgreSQL database at ${t.host}:${t.port} does not answer (${why}): the coordinator retries, and takes submissions again once it is back`,
    { cause: err, status: 503, retryable: true },
  )
}

/** The innermost error a driver error wraps (drizzle wraps the driver's in `cause`). */
function causeOf(err: unknown): unknown {
  let e = err
  for (let depth = 0; depth < 4; depth++) {
    const code = driverCode(e)
    if (code) return e
    const next = typeof e === 'object' && e !== null ? (e as { cause?: unknown }).cause : undefined
    if (next === undefined) return e
    e = next
  }
  return e
}

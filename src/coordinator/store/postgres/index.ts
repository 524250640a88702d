import { SQL } from 'bun'
import { drizzle } from 'drizzle-orm/bun-sql'
import { connectError, MIN_SERVER_VERSION, redactUrl, tooOld } from '../../../db/postgres/errors'
import { migrate } from '../../../db/postgres/migrate'
import * as schema from '../../../db/postgres/schema'
import { GridError } from '../../../errors'
import type { Store } from '../types'
import { PgAccounts } from './accounts'
import { pgBus } from './bus'
import { Outage } from './guard'
import { pgLeadership } from './leadership'
import { plannerStats } from './planner-stats'
import { pgBlobChunks } from './blob-chunks'
import { pgCredits } from './credits'
import type { Db } from './db'
import { pgDeadlines } from './deadlines'
import { pgWorkflows } from './workflows'
import { pgFiles } from './files'
import { PgInvites } from './invites'
import { PgLeases } from './leases'
import { PgQueue } from './queue'
import { pgStats } from './stats'
import { pgWorkers } from './workers'

/** How a coordinator connects to its PostgreSQL. */
export interface PostgresOptions {
  /** Most connections this coordinator holds open (default 10). */
  maxConnections?: number
  /** Seconds to wait for a connection to open before saying the database is unreachable (default 10). */
  connectTimeoutS?: number
  /** Where an outage and its end are told (once each). */
  log?: (line: string) => void
}

/** Whether a database setting names PostgreSQL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

/**
 * Connects to the grid's PostgreSQL (failing at once with a clear error when the server is
 * unreachable, refuses the login, lacks the database or is too old) and applies the migrations
 * under a lock shared by every coordinator. Returns the pool and its drizzle handle.
 */
export async function connectPostgres(
  url: string,
  opts: PostgresOptions = {},
): Promise<{ client: SQL; db: Db }> {
  if (!isPostgresUrl(url) || !URL.canParse(url)) {
    throw new GridError(
      'database_url_invalid',
      `'${redactUrl(url)}' is not a PostgreSQL URL: use postgres://USER:PASSWORD@HOST:PORT/DATABASE`,
    )
  }
  const timeoutS = opts.connectTimeoutS ?? 10
  const client = new SQL(url, {
    max: opts.maxConnections ?? 10,
    connectionTimeout: timeoutS,
    // Idle connections are closed, so a pool that outlived a server restart holds no dead ones long.
    idleTimeout: 60,
  })
  try {
    const rows: { num: string; version: string }[] =
      await client`SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version`
    const num = Number(rows[0]?.num)
    if (!(num >= MIN_SERVER_VERSION)) throw tooOld(url, num, rows[0]?.version ?? '?')
    await migrate(client)
  } catch (err) {
    await client.close().catch(() => {})
    throw connectError(err, url, timeoutS) ?? err
  }
  return { client, db: drizzle({ client, schema }) }
}

/**
 * Opens the grid's PostgreSQL store (see `connectPostgres`). Connections that drop later (the
 * server restarted) are opened again by the pool on the next query.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Store> {
  const { client, db } = await connectPostgres(url, opts)
  const outage = new Outage(url, opts.log ?? (() => {}))
  const leadership = pgLeadership(client)
  return {
    engine: 'postgres',
    accounts: outage.guard(new PgAccounts(db, client)),
    invites: outage.guard(new PgInvites(db)),
    workers: outage.guard(pgWorkers(db)),
    files: outage.guard(pgFiles(db)),
    credits: outage.guard(pgCredits(db)),
    queue: outage.guard(new PgQueue(db)),
    leases: outage.guard(new PgLeases(db)),
    deadlines: outage.guard(pgDeadlines(db)),
    workflows: outage.guard(pgWorkflows(db)),
    stats: outage.guard(pgStats(db)),
    bus: pgBus(client),
    leadership,
    plannerStats: plannerStats(client, opts.log ?? (() => {})),
    health: outage,
    blobChunks: outage.guard(pgBlobChunks(db)),
    close: async () => {
      await leadership.release()
      await client.close()
    },
  }
}

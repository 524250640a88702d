import { afterAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { createServer, type Server } from 'node:net'
import { tooOld } from '../../src/db/postgres/errors'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { MIGRATIONS } from '../../src/db/postgres/migrate'
import { adminUrl, freshDatabase } from '../support/postgres'

// Every way opening the database can fail gets its own clear error, and none prints the password.

const servers: Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
})

async function listen(onConnection: () => void = () => {}): Promise<number> {
  const srv = createServer(onConnection)
  servers.push(srv)
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const addr = srv.address()
  return typeof addr === 'object' && addr ? addr.port : 0
}

async function refusal(url: string, opts = {}): Promise<{ code: string; message: string }> {
  const err: unknown = await openPostgres(url, opts).then(
    async (s) => {
      await s.close()
      return undefined
    },
    (e: unknown) => e,
  )
  expect(err).toBeDefined()
  return err as { code: string; message: string }
}

const withUrl = async (edit: (u: URL) => void) => {
  const u = new URL(await freshDatabase())
  edit(u)
  return u.toString()
}

describe('postgres: clear errors when the database cannot be used', () => {
  test('a wrong password: authentication failed, the password never shown', async () => {
    const url = await withUrl((u) => (u.password = 'not-the-Secret-pw'))
    const err = await refusal(url)
    expect(err.code).toBe('database_auth_failed')
    expect(err.message).toContain("refused the login of 'postgres'")
    expect(err.message).not.toContain('not-the-Secret-pw')
  })

  test('a database that does not exist: says how to create it', async () => {
    const url = await withUrl((u) => (u.pathname = '/gridx_absent'))
    const err = await refusal(url)
    expect(err.code).toBe('database_missing')
    expect(err.message).toContain("has no database 'gridx_absent'")
    expect(err.message).toMatch(/createdb -h 127\.0\.0\.1 -p \d+ -U postgres gridx_absent/)
  })

  test('a closed port: unreachable, connection refused, with host and port; fast', async () => {
    const port = await listen()
    servers.pop()!.close()
    const url = `postgres://gridx:Secret-pw@127.0.0.1:${port}/gridx`
    const t0 = Date.now()
    const err = await refusal(url)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(err.code).toBe('database_unreachable')
    expect(err.message).toContain(`at 127.0.0.1:${port}: connection refused`)
    expect(err.message).not.toContain('Secret-pw')
  })

  test('a server that never answers: unreachable, timed out after the connect timeout', async () => {
    const port = await listen()
    const err = await refusal(`postgres://gridx:pw@127.0.0.1:${port}/gridx`, { connectTimeoutS: 1 })
    expect(err.code).toBe('database_unreachable')
    expect(err.message).toContain(`at 127.0.0.1:${port}: timed out after 1 s`)
  })

  test('a schema newer than this binary: refused, naming the newest migration and what to run', async () => {
    const url = await freshDatabase()
    await (await openPostgres(url)).close()
    const sql = new SQL(url, { max: 1 })
    await sql`INSERT INTO gridx_migrations (id, applied_at) VALUES ('0007_from_the_future', 1), ('0003_later', 1)`
    await sql.close()
    const err = await refusal(url)
    expect(err.code).toBe('database_schema_newer')
    expect(err.message).toContain(
      `it has migration 0007_from_the_future; this binary knows up to ${MIGRATIONS.at(-1)!.id}`,
    )
    expect(err.message).toContain('run a newer gridx release')
  })

  test('not a PostgreSQL URL; a server too old', async () => {
    expect(await refusal('mysql://x@y/z')).toMatchObject({ code: 'database_url_invalid' })
    const old = tooOld(await adminUrl(), 120017, '12.17')
    expect(old.code).toBe('database_too_old')
    expect(old.message).toContain('is version 12.17: Grid-X needs PostgreSQL 13 or newer')
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SQL } from 'bun'
import { getTableColumns } from 'drizzle-orm'
import { drizzle as pgDrizzle } from 'drizzle-orm/bun-sql'
import { drizzle as liteDrizzle } from 'drizzle-orm/bun-sqlite'
import { directoryDestination, migrateGrid } from '../../src/coordinator/store/migrate'
import { tablePairs } from '../../src/coordinator/store/migrate/tables'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { openSqlite } from '../../src/coordinator/store/sqlite'
import { GridError } from '../../src/errors'
import { tempDir } from '../e2e/harness'
import { freshDatabase } from '../support/postgres'
import { CHUNKS } from './migrate-grid'
import { rejection } from '../support/store-fixtures'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
/** Small batches, so every table is copied in many of them. */
const limits = { rows: 7, bytes: 4096 }

let dir: string
let path: string

/** Every row of every table, in one order, as drizzle reads it (Buffers, arrays, booleans). */
async function dump(db: object, schema: 'sqlite' | 'postgres'): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {}
  for (const pair of tablePairs()) {
    const table = schema === 'sqlite' ? pair.sqlite : pair.postgres
    const rows = (await (db as { select: () => { from: (t: unknown) => Promise<unknown[]> } })
      .select()
      .from(table)) as Record<string, unknown>[]
    const key = (r: Record<string, unknown>) =>
      Object.keys(getTableColumns(pair.sqlite))
        .map((k) => String(r[k]))
        .join('|')
    out[pair.name] = rows.sort((a, b) => key(a).localeCompare(key(b)))
  }
  return out
}

beforeAll(() => {
  dir = tempDir('migrate-src')
  path = join(dir, 'gridx.db')
  const made = Bun.spawnSync([process.execPath, join(import.meta.dir, 'migrate-grid.ts'), dir], {
    stderr: 'pipe',
  })
  if (made.exitCode !== 0) throw new Error(`building the grid failed: ${made.stderr.toString()}`)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))
// A database closed in this process lingers (see migrate-grid.ts) and would look like a running
// coordinator: each migration below reads a file no connection of this process has touched.
const copyOf = (name: string) => {
  const to = join(dir, name)
  copyFileSync(path, to)
  return to
}

describe('gridx migrate: the copy', () => {
  let url: string
  let target: string
  const logs: string[] = []

  beforeAll(async () => {
    url = await freshDatabase()
    target = tempDir('migrate-blobs')
    const summary = await migrateGrid({
      from: path,
      to: url,
      files: directoryDestination(target),
      limits,
      log: (l) => logs.push(l),
    })
    expect(summary.tables.find((t) => t.name === 'job_output')?.rows).toBe(CHUNKS)
    expect(summary.audit).toMatchObject({ ok: true, minted: 15_777, escrow: 210 })
    expect(summary.files).toMatchObject({ files: 2, copied: 2 })
  })
  afterAll(() => rmSync(target, { recursive: true, force: true }))

  test('every row of every table arrives as it was: ids, times, JSON arrays, blobs, sequence numbers', async () => {
    const lite = new Database(path, { readonly: true })
    const pg = new SQL(url, { max: 1 })
    try {
      const before = await dump(liteDrizzle(lite), 'sqlite')
      const after = await dump(pgDrizzle({ client: pg }), 'postgres')
      expect(Object.values(before).every((rows) => rows.length > 0)).toBe(true)
      expect(after).toEqual(before)
      expect(
        (after['users'] as { name: string; inviteId: string | null }[]).find((u) => u.name === 'bob')
          ?.inviteId,
      ).toBeString()
      // Labels arrive as jsonb objects, which the listing's containment filter (@>) needs.
      const [kind] = (await pg.unsafe(
        `SELECT jsonb_typeof(labels) AS t FROM jobs WHERE id = 'j-queued'`,
      )) as {
        t: string
      }[]
      expect(kind?.t).toBe('object')
    } finally {
      lite.close()
      await pg.close()
    }
  })

  test('the moved grid works: balances, history and output as before, new transfers number on', async () => {
    const src = openSqlite(path)
    const dst = await openPostgres(url)
    try {
      for (const user of ['u-alice', 'u-bob'])
        expect(await dst.credits.of(user, 50)).toEqual(await src.credits.of(user, 50))
      expect(await dst.credits.audit()).toEqual(await src.credits.audit())
      expect(await dst.leases.output('j-done', 1, -1)).toEqual(await src.leases.output('j-done', 1, -1))
      expect(await dst.accounts.byToken('t'.repeat(64), 5)).toMatchObject({ name: 'bob' })
      const maxSeq = (await src.credits.of('u-bob', 1)).history[0]!.seq
      await dst.credits.grant('bob', 1, 'after the move', 100)
      expect((await dst.credits.of('u-bob', 1)).history[0]!.seq).toBeGreaterThan(maxSeq)
      expect((await dst.credits.audit()).ok).toBe(true)
    } finally {
      await src.close()
      await dst.close()
    }
  })

  test('stored files are copied, each under its digest', () => {
    const names = readdirSync(target).sort()
    expect(names).toEqual(readdirSync(join(dir, 'blobs')).sort())
    for (const n of names) expect(sha(readFileSync(join(target, n)))).toBe(n)
  })

  test('progress lines name each table with its rows per second', () => {
    expect(logs.some((l) => /^job_output: 300 rows in [\d.]+ s \(\d+ rows\/s\)$/.test(l))).toBe(true)
  })

  test('a target that holds a grid is refused, and left as it was', async () => {
    const err = await rejection(migrateGrid({ from: copyOf('again.db'), to: url, log: () => {} }))
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('migrate_target_not_empty')
    expect((err as GridError).message).toMatch(
      /is not empty \(it holds 2 users, 5 jobs, \d+ transfers\).*createdb/,
    )
  })
})

describe('gridx migrate: refusals', () => {
  const code = async (p: Promise<unknown>) => ((await rejection(p)) as GridError).code

  test('a running coordinator on the source: stop gridx serve first', async () => {
    const url = await freshDatabase()
    const from = copyOf('live.db')
    const live = openSqlite(from)
    try {
      const err = (await rejection(migrateGrid({ from, to: url, log: () => {} }))) as GridError
      expect(err.code).toBe('migrate_source_busy')
      expect(err.message).toContain('stop gridx serve first')
    } finally {
      await live.close()
    }
    const pg = await openPostgres(url)
    expect(await pg.accounts.exist()).toBe(false)
    await pg.close()
  })

  test('a file that is not a Grid-X database, a missing one, one of a newer gridx', async () => {
    const url = await freshDatabase()
    const junk = join(dir, 'junk.db')
    writeFileSync(junk, 'not a database at all, just some text that is long enough to be a header')
    expect(await code(migrateGrid({ from: junk, to: url, log: () => {} }))).toBe('migrate_source_invalid')
    const other = join(dir, 'other.db')
    new Database(other, { create: true }).run('CREATE TABLE notes (t TEXT)')
    expect(await code(migrateGrid({ from: other, to: url, log: () => {} }))).toBe('migrate_source_invalid')
    expect(await code(migrateGrid({ from: join(dir, 'nope.db'), to: url, log: () => {} }))).toBe(
      'migrate_source_missing',
    )
    const newer = join(dir, 'newer.db')
    copyFileSync(path, newer)
    const db = new Database(newer)
    db.run("INSERT INTO gridx_migrations (id, applied_at) VALUES ('9999_future', 1)")
    db.close()
    expect(await code(migrateGrid({ from: newer, to: url, log: () => {} }))).toBe('migrate_source_newer')
  })

  test('a failure during the copy leaves the target empty (a damaged stored file)', async () => {
    const url = await freshDatabase()
    const copy = tempDir('migrate-damaged')
    copyFileSync(path, join(copy, 'gridx.db'))
    mkdirSync(join(copy, 'blobs'))
    writeFileSync(join(copy, 'blobs', 'a'.repeat(64)), 'not what the name says')
    try {
      const err = (await rejection(
        migrateGrid({
          from: join(copy, 'gridx.db'),
          to: url,
          files: directoryDestination(join(copy, 'out')),
          log: () => {},
        }),
      )) as GridError
      expect(err.code).toBe('migrate_file_damaged')
      const pg = await openPostgres(url)
      expect(await pg.accounts.exist()).toBe(false)
      expect((await pg.credits.audit()).transfers).toBe(0)
      await pg.close()
    } finally {
      rmSync(copy, { recursive: true, force: true })
    }
  })
})

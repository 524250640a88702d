import { SQL } from 'bun'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Outage } from '../../src/coordinator/store/postgres/guard'
import { freshDatabase } from '../support/postgres'
import { rejection } from '../support/store-fixtures'

// A store call PostgreSQL picks as a deadlock's victim was rolled back whole: the store's guard
// (the Outage proxy every PostgreSQL repository goes through) runs it again, so two calls that
// lock the same rows in opposite orders both go through instead of one failing with 40P01.

let url: string
let sql: SQL

beforeAll(async () => {
  url = await freshDatabase()
  sql = new SQL(url, { max: 4 })
  await sql.unsafe('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)')
})
afterAll(async () => {
  await sql.close()
})

test('two calls that deadlock each other both succeed: the victim runs again, the rows say each ran once', async () => {
  await sql.unsafe('INSERT INTO counters VALUES (1, 0), (2, 0)')
  const outage = new Outage(url, () => {})
  let runs = 0
  let firstLocks = 0
  let bothLocked!: () => void
  const barrier = new Promise<void>((resolve) => (bothLocked = resolve))
  const repo = outage.guard({
    /** Adds one to `first`, then (once both calls hold their first row) to `second`. */
    async bump(first: number, second: number): Promise<string> {
      runs++
      return await sql.begin(async (tx) => {
        // Found within a tenth of a second rather than PostgreSQL's default second.
        await tx.unsafe(`SET LOCAL deadlock_timeout = '100ms'`)
        await tx.unsafe('UPDATE counters SET n = n + 1 WHERE id = $1', [first])
        if (++firstLocks === 2) bothLocked()
        await barrier
        await tx.unsafe('UPDATE counters SET n = n + 1 WHERE id = $1', [second])
        return `${first}-${second}`
      })
    },
  })
  const answers = await Promise.all([repo.bump(1, 2), repo.bump(2, 1)])
  expect(answers).toEqual(['1-2', '2-1'])
  // One of them was the victim and ran a second time.
  expect(runs).toBe(3)
  const rows = await sql.unsafe('SELECT id, n FROM counters ORDER BY id')
  expect([...rows]).toEqual([
    { id: 1, n: 2 },
    { id: 2, n: 2 },
  ])
  expect(outage.problem()).toBeUndefined()
})

test('a call that keeps losing conflicts gives up after a few runs with its own error; other errors are not run again', async () => {
  const outage = new Outage(url, () => {})
  let runs = 0
  const conflict = Object.assign(new Error('deadlock detected'), { errno: '40P01' })
  const refused = Object.assign(new Error('duplicate key value violates unique constraint'), {
    errno: '23505',
  })
  const repo = outage.guard({
    conflicted(): Promise<void> {
      runs++
      return Promise.reject(conflict)
    },
    duplicate(): Promise<void> {
      runs++
      return Promise.reject(refused)
    },
  })
  expect(await rejection(repo.conflicted())).toBe(conflict)
  expect(runs).toBe(4)
  runs = 0
  expect(await rejection(repo.duplicate())).toBe(refused)
  expect(runs).toBe(1)
  // A call given a stream (an archive's chunks) is not run again: the stream was read.
  runs = 0
  const streamed = outage.guard({
    async write(chunks: AsyncIterable<Uint8Array>): Promise<void> {
      runs++
      for await (const chunk of chunks) expect(chunk.length).toBe(1)
      throw conflict
    },
  })
  async function* chunks() {
    yield await Promise.resolve(new Uint8Array(1))
  }
  expect(await rejection(streamed.write(chunks()))).toBe(conflict)
  expect(runs).toBe(1)
  // A real statement that fails the same way: a unique violation, once.
  runs = 0
  const real = outage.guard({
    async insert(): Promise<void> {
      runs++
      await sql.unsafe('INSERT INTO counters VALUES (1, 0)')
    },
  })
  await rejection(real.insert())
  expect(runs).toBe(1)
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { plannerStats } from '../../src/coordinator/store/postgres/planner-stats'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { newJob, seed } from '../support/store-fixtures'

// The leader analyses the hot tables once enough of them changed, not a minute later when
// autovacuum looks: the plans of the dispatch statements follow the statistics.

let url: string
let store: Store
let sql: SQL

beforeAll(async () => {
  url = await freshDatabase()
  store = await seed(await openPostgres(url))
  sql = new SQL(url, { max: 1 })
  // Autovacuum's own analysis of a new table (after 50 changes) would take the count this waits for.
  await sql`ALTER TABLE jobs SET (autovacuum_enabled = off)`
})
afterAll(async () => {
  await sql.close()
  await store.close()
})

const lastAnalyze = async (table: string): Promise<string | null> => {
  const rows: { at: string | null }[] =
    await sql`SELECT last_analyze::text AS at FROM pg_stat_user_tables WHERE relname = ${table}`
  return rows[0]?.at ?? null
}

describe('postgres: planner statistics', () => {
  test('a table that changed enough is analysed at once, then not again until it changes or the interval passed', async () => {
    let clock = 1_000_000
    const said: string[] = []
    const stats = plannerStats(
      sql,
      (line) => said.push(line),
      () => clock,
    )
    // Nothing changed yet (the seed made a few rows): nothing is analysed.
    expect(await stats.freshen()).toEqual([])
    expect(await lastAnalyze('jobs')).toBeNull()
    for (let i = 0; i < 1200; i++) await store.queue.create(newJob({ maxCost: 0 }))
    // The statistics system hears of the changes once their connections report them: within a
    // second while they are busy, within ten once they fall idle.
    const analysed = async () => {
      for (let i = 0; i < 200; i++) {
        if ((await stats.freshen()).includes('jobs')) return true
        await Bun.sleep(100)
      }
      return false
    }
    expect(await analysed()).toBe(true)
    const first = await lastAnalyze('jobs')
    expect(first).not.toBeNull()
    // Changed as much again at once: not before the interval has passed...
    for (let i = 0; i < 1200; i++) await store.queue.create(newJob({ maxCost: 0 }))
    await Bun.sleep(1500)
    for (let i = 0; i < 10; i++) {
      expect(await stats.freshen()).not.toContain('jobs')
      await Bun.sleep(50)
    }
    // ...and once it has.
    clock += 10_000
    expect(await analysed()).toBe(true)
    expect(await lastAnalyze('jobs')).not.toBe(first)
    expect(said).toEqual([])
  }, 60_000)
})

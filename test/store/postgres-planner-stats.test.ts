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
})
afterAll(async () => {
  await sql.close()
  await store.close()
})

const lastAnalyze = async (table: string) =>
  (
    (await sql`SELECT last_analyze FROM pg_stat_user_tables WHERE relname = ${table}`) as {
      last_analyze: unknown
    }[]
  )[0]?.last_analyze ?? null

describe('postgres: planner statistics', () => {
  test('a table that changed enough is analysed at once, then not again until it changes or the interval passed', async () => {
    let clock = 1_000_000
    const stats = plannerStats(sql, () => clock)
    // Nothing changed yet (the seed made a few rows): nothing is analysed.
    expect(await stats.freshen()).toEqual([])
    expect(await lastAnalyze('jobs')).toBeNull()
    for (let i = 0; i < 1200; i++) await store.queue.create(newJob({ maxCost: 0 }))
    // The statistics system hears of the changes once their connections report them: within a
    // second while they are busy, within ten once they fall idle.
    let done: string[] = []
    for (let i = 0; i < 200 && !done.includes('jobs'); i++) {
      done = await stats.freshen()
      if (!done.includes('jobs')) await Bun.sleep(100)
    }
    expect(done).toContain('jobs')
    expect(await lastAnalyze('jobs')).not.toBeNull()
    // Analysed: nothing is due, even once the interval passed.
    clock += 10_000
    for (let i = 0; i < 20; i++) {
      expect(await stats.freshen()).not.toContain('jobs')
      await Bun.sleep(50)
    }
  }, 60_000)
})

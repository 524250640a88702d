import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import fc from 'fast-check'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { MIGRATIONS } from '../../src/db/postgres/migrate'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { GRANT, newJob, paid, rejection, seed } from '../support/store-fixtures'

// What only a shared PostgreSQL has to get right: several coordinators (here three stores, three
// connection pools) on one database at once.

let url: string
let coordinators: Store[]

beforeAll(async () => {
  url = await freshDatabase()
  coordinators = [await seed(await openPostgres(url)), await openPostgres(url), await openPostgres(url)]
  for (const [i, s] of coordinators.entries())
    await s.workers.upsert(`w-${i}`, 'u-bob', `box-${i}`, 4, `key-${i}`)
})
afterAll(async () => {
  for (const s of coordinators) await s.close()
})

const jitter = () => Bun.sleep(Math.random() * 3)

describe('postgres: three coordinators on one database', () => {
  test('racing assign never hands one attempt to two workers (random interleavings)', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(
          fc.record({
            job: fc.nat(),
            racers: fc.subarray([0, 1, 2], { minLength: 1 }),
            requeue: fc.boolean(),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (jobCount, rounds) => {
          run++
          const ids: string[] = []
          for (let i = 0; i < jobCount; i++) {
            ids.push(
              (await coordinators[i % 3]!.queue.create(newJob({ id: `race-${run}-${i}`, maxAttempts: 50 })))
                .id,
            )
          }
          const wins = new Map<string, string>()
          for (const round of rounds) {
            const jobId = ids[round.job % ids.length]!
            const before = await coordinators[0]!.queue.job(jobId)
            const got = await Promise.all(
              round.racers.map(async (c) => {
                await jitter()
                return await coordinators[c]!.leases.assign(jobId, `w-${c}`, Date.now() + 60_000)
              }),
            )
            const winners = got.filter((r) => r !== undefined)
            // Queued: exactly one racer gets it, under the next attempt; under lease: none does.
            expect(winners.length).toBe(before?.state === 'queued' ? 1 : 0)
            for (const w of winners) {
              const key = `${w.id}#${w.attempt}`
              expect(wins.has(key)).toBe(false)
              wins.set(key, w.workerId!)
              expect(w.attempt).toBe(before!.attempt + 1)
            }
            const held = await coordinators[0]!.queue.job(jobId)
            if (round.requeue && held?.state === 'assigned') {
              const c = round.job % 3
              const r = await coordinators[c]!.leases.requeue(
                { jobId, attempt: held.attempt },
                'lost',
                Date.now(),
              )
              expect(r).toBe('queued')
            }
          }
          // The database agrees: one attempt row per win, on the worker that won it.
          for (const jobId of ids) {
            for (const a of await coordinators[1]!.leases.attemptsOf(jobId)) {
              expect(wins.get(`${jobId}#${a.attempt}`)).toBe(a.workerId)
            }
          }
          const rows = (await Promise.all(ids.map((id) => coordinators[2]!.leases.attemptsOf(id)))).flat()
          expect(rows.length).toBe(wins.size)
        },
      ),
      { numRuns: 25 },
    )
  })

  test('concurrent submissions of one poor user never overspend; the audit stays exact', async () => {
    const poor = 'u-poor'
    await coordinators[0]!.accounts.create(
      { id: poor, name: 'poor', passwordHash: 'h', createdAt: 3 },
      { signup: 'open', grant: 10_000 },
    )
    const cost = 700
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, async (_, i) => {
        await jitter()
        return await coordinators[i % 3]!.queue.create(newJob({ ownerId: poor, maxCost: cost }))
      }),
    )
    const accepted = results.filter((r) => r.status === 'fulfilled').length
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string }] : []))
    expect(accepted).toBe(Math.floor(10_000 / cost))
    expect(refused.map((e) => e.code)).toEqual(Array<string>(30 - accepted).fill('insufficient_credits'))
    expect(await coordinators[1]!.credits.of(poor, 1)).toMatchObject({
      balance: 10_000 - accepted * cost,
      escrow: accepted * cost,
    })
    expect((await coordinators[2]!.queue.jobsOf(poor, 100)).length).toBe(accepted)
    const audit = await coordinators[2]!.credits.audit()
    expect(audit).toMatchObject({ ok: true, negativeAccounts: 0 })
  })

  test('settlements paying each other at once, from different coordinators, neither deadlock nor drift', async () => {
    await coordinators[0]!.workers.upsert('w-alice', 'u-alice', 'alices-box', 5, 'key-alice')
    const pairs = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const mine = i % 2 === 0
        const job = await coordinators[0]!.queue.create(
          newJob({ ownerId: mine ? 'u-alice' : 'u-bob', maxCost: 50 }),
        )
        const worker = mine ? 'w-0' : 'w-alice'
        await coordinators[1]!.leases.assign(job.id, worker, Date.now() + 60_000)
        return { job, worker }
      }),
    )
    const ended = await Promise.all(
      pairs.map(({ job, worker }, i) =>
        coordinators[i % 3]!.leases.finish({ jobId: job.id, attempt: 1 }, worker, paid(30)),
      ),
    )
    expect(ended.every(Boolean)).toBe(true)
    expect((await coordinators[0]!.credits.audit()).ok).toBe(true)
  })
})

describe('postgres: migration', () => {
  test('three coordinators opening an empty database at once all succeed; the schema is made once', async () => {
    const fresh = await freshDatabase()
    const stores = await Promise.all([openPostgres(fresh), openPostgres(fresh), openPostgres(fresh)])
    const sql = new SQL(fresh, { max: 1 })
    const rows: { id: string }[] = await sql`SELECT id FROM gridx_migrations`
    expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id))
    // The ledger's append-only rule is in force, TRUNCATE included.
    await stores[0].accounts.create(
      { id: 'u', name: 'u', passwordHash: 'h', createdAt: 1 },
      { signup: 'open', grant: GRANT },
    )
    expect(String(await rejection(sql`UPDATE transfers SET amount = 1`))).toContain(
      'transfers are append-only',
    )
    expect(String(await rejection(sql`DELETE FROM transfers`))).toContain('transfers are append-only')
    expect(String(await rejection(sql`TRUNCATE transfers`))).toContain('transfers are append-only')
    expect(String(await rejection(sql`UPDATE accounts SET balance = -1 WHERE id = 'user:u'`))).toContain(
      'balance_not_negative',
    )
    await sql.close()
    for (const s of stores) await s.close()
  })

  test('a database made before accounts had an order: 0001 numbers them by creation time, then id; new ones follow', async () => {
    const url = await freshDatabase()
    const sql = new SQL(url, { max: 1 })
    await sql`CREATE TABLE gridx_migrations (id text PRIMARY KEY, applied_at bigint NOT NULL)`
    for (const stmt of MIGRATIONS[0]!.sql.split('--> statement-breakpoint'))
      if (stmt.trim()) await sql.unsafe(stmt)
    await sql`INSERT INTO gridx_migrations VALUES ('0000_init', 1)`
    await sql`INSERT INTO users (id, name, password_hash, is_admin, created_at) VALUES ('u-z', 'zoe', 'h', false, 5), ('u-b', 'bea', 'h', false, 1), ('u-a', 'ann', 'h', true, 1)`
    const store = await openPostgres(url)
    await store.accounts.create(
      { id: 'u-0', name: 'new', passwordHash: 'h', createdAt: 1 },
      { signup: 'open', grant: 0 },
    )
    const rows: { id: string; seq: string }[] = await sql`SELECT id, seq FROM users ORDER BY seq`
    expect(rows.map((r) => [r.id, Number(r.seq)])).toEqual([
      ['u-a', 1],
      ['u-b', 2],
      ['u-z', 3],
      ['u-0', 4],
    ])
    expect(await store.accounts.setOperators([])).toEqual({ operators: ['ann'], missing: [] })
    await sql.close()
    await store.close()
  })
})

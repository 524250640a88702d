import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { SQL } from 'bun'
import fc from 'fast-check'
import { rejection } from '../support/store-fixtures'
import { closeStore, ENGINES, reopenStore, whereIs } from '../support/stores'

type Op =
  | { op: 'grant'; user: number; amount: number }
  | { op: 'submit'; user: number; cpus: number; timeoutS: number }
  | { op: 'assign'; job: number; worker: number }
  | { op: 'start'; job: number }
  | { op: 'finish'; job: number; outcome: 'exited' | 'timeout' | 'error'; cost: number }
  | { op: 'finishAgain'; job: number; cost: number }
  | { op: 'cancel'; job: number; cost: number }
  | { op: 'lose'; job: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('grant' as const),
    user: fc.nat(3),
    amount: fc.integer({ min: 1, max: 50_000 }),
  }),
  fc.record({
    op: fc.constant('submit' as const),
    user: fc.nat(3),
    cpus: fc.constantFrom(0.5, 1, 2),
    timeoutS: fc.integer({ min: 1, max: 3600 }),
  }),
  fc.record({ op: fc.constant('assign' as const), job: fc.nat(30), worker: fc.nat(1) }),
  fc.record({ op: fc.constant('start' as const), job: fc.nat(30) }),
  fc.record({
    op: fc.constant('finish' as const),
    job: fc.nat(30),
    outcome: fc.constantFrom('exited' as const, 'timeout' as const, 'error' as const),
    cost: fc.integer({ min: 0, max: 200_000 }),
  }),
  fc.record({
    op: fc.constant('finishAgain' as const),
    job: fc.nat(30),
    cost: fc.integer({ min: 0, max: 200_000 }),
  }),
  fc.record({
    op: fc.constant('cancel' as const),
    job: fc.nat(30),
    cost: fc.integer({ min: 0, max: 200_000 }),
  }),
  fc.record({ op: fc.constant('lose' as const), job: fc.nat(30) }),
)

describe.each(ENGINES)('the ledger (property-based) on $name', (engine) => {
  test('any sequence of grants, submissions, settlements, cancellations and failures keeps the invariant', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const store = await engine.open()
        try {
          const users = []
          for (const [i, name] of ['u0', 'u1', 'u2', 'u3'].entries()) {
            users.push(
              await store.accounts.create(
                { id: `user${i}`, name, passwordHash: 'x', createdAt: 0 },
                { signup: 'open', grant: 100_000 },
              ),
            )
          }
          const workers = [
            await store.workers.upsert('worker-aaaa', 'user0', 'w0', 0),
            await store.workers.upsert('worker-bbbb', 'user1', 'w1', 0),
          ]
          const jobIds: string[] = []
          let t = 1
          for (const o of ops) {
            t++
            const jobId = 'job' in o ? jobIds[o.job % Math.max(1, jobIds.length)] : undefined
            const job = jobId ? await store.queue.job(jobId) : undefined
            try {
              switch (o.op) {
                case 'grant':
                  await store.credits.grant(users[o.user]!.name, o.amount, 'test', t)
                  break
                case 'submit': {
                  const id = `job${t}`
                  await store.queue.create({
                    id,
                    ownerId: users[o.user]!.id,
                    image: 'i',
                    command: ['true'],
                    scriptName: null,
                    script: null,
                    args: [],
                    timeoutMs: o.timeoutS * 1000,
                    cpus: o.cpus,
                    memoryBytes: 1 << 26,
                    maxAttempts: 2,
                    maxCost: Math.ceil(o.cpus * o.timeoutS * (1000 / 60)),
                    createdAt: t,
                  })
                  jobIds.push(id)
                  break
                }
                case 'assign':
                  if (job) await store.leases.assign(job.id, workers[o.worker]!.id, t + 1000)
                  break
                case 'start':
                  if (job?.workerId)
                    await store.leases.markRunning({ jobId: job.id, attempt: job.attempt }, job.workerId, t)
                  break
                case 'finish':
                case 'finishAgain':
                  if (job?.workerId) {
                    const outcome = o.op === 'finish' ? o.outcome : 'exited'
                    await store.leases.finish({ jobId: job.id, attempt: job.attempt }, job.workerId, {
                      state: 'failed',
                      exitCode: 1,
                      outcome,
                      error: null,
                      at: t,
                      cost: outcome === 'error' ? 0 : o.cost,
                      billedMs: 1000,
                    })
                  }
                  break
                case 'cancel':
                  if (job) await store.leases.cancel(job.id, t, () => ({ cost: o.cost, billedMs: 1000 }))
                  break
                case 'lose':
                  if (job) await store.leases.requeue({ jobId: job.id, attempt: job.attempt }, 'lost', t)
                  break
              }
            } catch (err) {
              // Refusals (402) are expected; anything else is a bug.
              if (!(err instanceof Error) || !/insufficient credits/.test(err.message)) throw err
            }
            const a = await store.credits.audit()
            if (!a.ok || a.negativeAccounts !== 0)
              throw new Error(`invariant broken after ${JSON.stringify(o)}: ${JSON.stringify(a)}`)
          }
          // every final job is settled exactly once: its escrow is gone, cost <= maxCost
          for (const id of jobIds) {
            const j = (await store.queue.job(id))!
            if (['succeeded', 'failed', 'cancelled'].includes(j.state)) {
              expect(j.cost).not.toBeNull()
              expect(j.cost!).toBeLessThanOrEqual(j.maxCost)
            }
          }
          const open = (await Promise.all(jobIds.map(async (id) => (await store.queue.job(id))!))).filter(
            (j) => !['succeeded', 'failed', 'cancelled'].includes(j.state),
          )
          let escrowed = 0
          for (const u of users) escrowed += (await store.credits.of(u.id, 1)).escrow
          expect(escrowed).toBe(open.reduce((n, j) => n + j.maxCost, 0))
        } finally {
          await closeStore(store)
        }
      }),
      // A run on PostgreSQL makes some 200 round trips: half the runs keep it to a few seconds.
      { numRuns: engine.name === 'sqlite' ? 60 : 30 },
    )
  })

  test('the database itself refuses a negative balance and edits to history', async () => {
    const store = await engine.open()
    try {
      await store.accounts.create(
        { id: 'u1', name: 'alice', passwordHash: 'x', createdAt: 0 },
        { signup: 'open', grant: 1000 },
      )
      // The engines differ only in how the refusal is worded (and PostgreSQL refuses TRUNCATE too).
      if (store.engine === 'sqlite') {
        await store.close()
        const db = new Database(whereIs(store))
        expect(() => db.run("UPDATE accounts SET balance = -1 WHERE id = 'user:u1'")).toThrow(
          /CHECK constraint failed/,
        )
        expect(() => db.run('UPDATE transfers SET amount = 5')).toThrow(/append-only/)
        expect(() => db.run('DELETE FROM transfers')).toThrow(/append-only/)
        db.close()
      } else {
        const sql = new SQL(whereIs(store), { max: 1 })
        try {
          expect(
            String(await rejection(sql`UPDATE accounts SET balance = -1 WHERE id = 'user:u1'`)),
          ).toContain('balance_not_negative')
          expect(String(await rejection(sql`UPDATE transfers SET amount = 5`))).toContain('append-only')
          expect(String(await rejection(sql`DELETE FROM transfers`))).toContain('append-only')
          expect(String(await rejection(sql`TRUNCATE transfers`))).toContain('append-only')
        } finally {
          await sql.close()
        }
      }
    } finally {
      await closeStore(store)
    }
  })

  test('the audit catches escrow no live job accounts for, though the balances still add up', async () => {
    let store = await engine.open()
    try {
      await store.accounts.create(
        { id: 'u1', name: 'alice', passwordHash: 'x', createdAt: 0 },
        { signup: 'open', grant: 1000 },
      )
      expect(await store.credits.audit()).toMatchObject({ ok: true, escrow: 0, escrowDue: 0 })
      // A hold with no job: credits moved from alice's balance to her escrow, the sum unchanged.
      const shift =
        "UPDATE accounts SET balance = balance + CASE id WHEN 'user:u1' THEN -300 ELSE 300 END WHERE id IN ('user:u1', 'escrow:u1')"
      if (store.engine === 'sqlite') {
        await store.close()
        const db = new Database(whereIs(store))
        db.run(shift)
        db.close()
      } else {
        const sql = new SQL(whereIs(store), { max: 1 })
        await sql.unsafe(shift)
        await sql.close()
      }
      store = await reopenStore(store)
      expect(await store.credits.audit()).toMatchObject({
        ok: false,
        minted: 1000,
        balances: 700,
        escrow: 300,
        escrowDue: 0,
      })
    } finally {
      await closeStore(store)
    }
  })

  test('the first account is the operator; a grant mints credits that the audit sees', async () => {
    const store = await engine.open()
    const a = await store.accounts.create(
      { id: 'u1', name: 'alice', passwordHash: 'x', createdAt: 0 },
      { signup: 'open', grant: 100_000 },
    )
    const b = await store.accounts.create(
      { id: 'u2', name: 'bob', passwordHash: 'x', createdAt: 1 },
      { signup: 'open', grant: 100_000 },
    )
    const c = await store.accounts.create(
      { id: 'u3', name: 'carol', passwordHash: 'x', createdAt: 2 },
      { signup: 'open', grant: 0 },
    )
    expect([a.isAdmin, b.isAdmin, c.isAdmin]).toEqual([true, false, false])
    // Only a start that names carol makes her an operator.
    expect(await store.accounts.setOperators(['carol'])).toEqual({
      operators: ['alice', 'carol'],
      missing: [],
    })
    await store.credits.grant('bob', 5_000, 'thanks', 3)
    expect((await store.credits.of('u2', 10)).balance).toBe(105_000)
    expect(await store.credits.audit()).toMatchObject({
      minted: 205_000,
      balances: 205_000,
      escrow: 0,
      ok: true,
    })
    await closeStore(store)
  })
})

import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { NewJob, Store } from '../../src/coordinator/store'
import { GridError } from '../../src/errors'
import { chunk, GRANT, newJob, NOTHING, ok, seed, user } from '../support/store-fixtures'
import { closeStore, ENGINES, reopenStore, whereIs } from '../support/stores'

// The store's contract, on both engines (a fresh SQLite file, a fresh PostgreSQL database).

let store: Store

/** A job assigned to `worker` (attempt 1); returns its lease. */
async function assigned(worker = 'w1', over: Partial<NewJob> = {}) {
  const job = await store.queue.create(newJob(over))
  const row = await store.leases.assign(job.id, worker, 10_000)
  expect(row?.attempt).toBe(1)
  return { jobId: job.id, attempt: 1 }
}

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  describe('Store: users', () => {
    test('createUser stores the account and userByName finds it', async () => {
      expect(await store.accounts.byName('alice')).toMatchObject({
        id: 'u-alice',
        name: 'alice',
        passwordHash: 'hash-alice',
        createdAt: 1,
      })
      expect(await store.accounts.byName('carol')).toBeUndefined()
    })

    test('a taken name is a 409 GridError telling the user to log in', async () => {
      let err: unknown
      try {
        await store.accounts.create(user('u-other', 'alice', 3), { signup: 'open', grant: GRANT })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(GridError)
      const g = err as GridError
      expect(g.status).toBe(409)
      expect(g.code).toBe('user_exists')
      expect(g.message).toBe("user 'alice' already exists: log in instead")
      // Nothing was written for the refused account, not even its grant.
      expect((await store.accounts.byName('alice'))?.id).toBe('u-alice')
      expect(await store.credits.audit()).toMatchObject({ ok: true, minted: 2 * GRANT })
    })

    test('the data outlives the store: a reopened one sees it, and migrations run once', async () => {
      store = await reopenStore(store)
      expect((await store.accounts.byName('bob'))?.id).toBe('u-bob')
      expect(await store.credits.audit()).toMatchObject({ ok: true, minted: 2 * GRANT })
    })

    // SQLite only: the journal mode and the migration table are properties of its file.
    test.if(engine.name === 'sqlite')(
      'sqlite: the file is in WAL mode and its migrations run once',
      async () => {
        const path = whereIs(store)
        const migrations = () => {
          const db = new Database(path, { readonly: true })
          try {
            expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
            return db.query<{ id: string }, []>('SELECT id FROM gridx_migrations ORDER BY id').all()
          } finally {
            db.close()
          }
        }
        const applied = migrations()
        expect(applied[0]).toEqual({ id: '0000_init' })
        store = await reopenStore(store)
        expect((await store.accounts.byName('bob'))?.id).toBe('u-bob')
        expect(migrations()).toEqual(applied)
      },
    )
  })

  describe('Store: tokens', () => {
    test('a token is live until its expiry, then refused', async () => {
      await store.accounts.addToken('h1', 'u-alice', 100, 200)
      expect((await store.accounts.byToken('h1', 100))?.name).toBe('alice')
      expect((await store.accounts.byToken('h1', 199))?.name).toBe('alice')
      expect(await store.accounts.byToken('h1', 200)).toBeUndefined()
      expect(await store.accounts.byToken('h1', 10_000)).toBeUndefined()
    })

    test('unknown hashes find nobody, and each hash finds its own user', async () => {
      await store.accounts.addToken('ha', 'u-alice', 0, 1000)
      await store.accounts.addToken('hb', 'u-bob', 0, 1000)
      expect((await store.accounts.byToken('hb', 1))?.name).toBe('bob')
      expect((await store.accounts.byToken('ha', 1))?.name).toBe('alice')
      expect(await store.accounts.byToken('nope', 1)).toBeUndefined()
    })

    test('deleteToken revokes only that token', async () => {
      await store.accounts.addToken('h1', 'u-alice', 0, 1000)
      await store.accounts.addToken('h2', 'u-alice', 0, 1000)
      // Both read first: a token the store has seen is refused as soon as it is revoked.
      expect((await store.accounts.byToken('h1', 1))?.name).toBe('alice')
      expect((await store.accounts.byToken('h2', 1))?.name).toBe('alice')
      await store.accounts.deleteToken('h1')
      expect(await store.accounts.byToken('h1', 1)).toBeUndefined()
      expect((await store.accounts.byToken('h2', 1))?.name).toBe('alice')
    })

    test("a token's user reads as the account is now: an operator named after the token was read, a caller's edit not kept", async () => {
      await store.accounts.addToken('hb', 'u-bob', 0, 1000)
      const before = await store.accounts.byToken('hb', 1)
      expect(before?.isAdmin).toBe(false)
      before!.isAdmin = true
      expect((await store.accounts.byToken('hb', 2))?.isAdmin).toBe(false)
      await store.accounts.setOperators(['bob'])
      expect((await store.accounts.byToken('hb', 3))?.isAdmin).toBe(true)
      await store.accounts.setOperators([])
      expect((await store.accounts.byToken('hb', 4))?.isAdmin).toBe(false)
    })
  })

  describe('Store: workers', () => {
    test('a worker id is pinned to the first account that used it', async () => {
      const first = await store.workers.upsert('worker-0001', 'u-alice', 'lab', 10)
      expect(first).toEqual({
        id: 'worker-0001',
        ownerId: 'u-alice',
        name: 'lab',
        publicKey: null,
        firstSeenAt: 10,
        lastSeenAt: 10,
      })
      const again = await store.workers.upsert('worker-0001', 'u-alice', 'lab-2', 20)
      expect(again).toEqual({ ...first, name: 'lab-2', lastSeenAt: 20 })
      let err: unknown
      try {
        await store.workers.upsert('worker-0001', 'u-bob', 'stolen', 30)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(GridError)
      expect((err as GridError).status).toBe(403)
      expect((err as GridError).code).toBe('worker_owned')
    })
  })

  describe('Store: jobs', () => {
    test('createJob queues a job with attempt 0 and round-trips every field', async () => {
      const input = newJob()
      const row = await store.queue.create(input)
      const { script, ...rest } = input
      expect(row).toMatchObject({
        ...rest,
        state: 'queued',
        attempt: 0,
        workerId: null,
        leaseExpiresAt: null,
        exitCode: null,
        outcome: null,
        error: null,
        outputBytes: 0,
        startedAt: null,
        finishedAt: null,
      })
      expect(row.script?.equals(script!)).toBe(true)
      expect(await store.queue.job(input.id)).toEqual(row)
      expect(await store.queue.job('missing')).toBeUndefined()
    })

    test('a job its owner cannot afford is refused with a 402 and not written', async () => {
      let err: unknown
      try {
        await store.queue.create(newJob({ id: 'too-dear', maxCost: GRANT + 1 }))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(GridError)
      expect((err as GridError).status).toBe(402)
      expect(await store.queue.job('too-dear')).toBeUndefined()
      expect(await store.queue.counts()).toEqual({})
    })

    test('jobsOf lists only the owner’s jobs, newest first, up to the limit', async () => {
      const a1 = await store.queue.create(newJob({ createdAt: 10 }))
      const a2 = await store.queue.create(newJob({ createdAt: 30 }))
      const a3 = await store.queue.create(newJob({ createdAt: 20 }))
      await store.queue.create(newJob({ ownerId: 'u-bob', createdAt: 40 }))
      expect((await store.queue.jobsOf('u-alice', 10)).map((j) => j.id)).toEqual([a2.id, a3.id, a1.id])
      expect((await store.queue.jobsOf('u-alice', 2)).map((j) => j.id)).toEqual([a2.id, a3.id])
      expect(await store.queue.jobsOf('u-nobody', 10)).toEqual([])
    })

    test("queued lists a user's queued jobs oldest first, without script bodies", async () => {
      const late = await store.queue.create(newJob({ createdAt: 50 }))
      const early = await store.queue.create(newJob({ createdAt: 5 }))
      const taken = await store.queue.create(newJob({ createdAt: 1 }))
      await store.leases.assign(taken.id, 'w1', 100)
      const q = (await store.queue.queued()).filter((j) => j.ownerId === 'u-alice')
      expect(q.map((j) => j.id)).toEqual([early.id, late.id])
      expect('script' in q[0]!).toBe(false)
      expect(q[0]!.scriptName).toBe('job.py')
      expect((await store.queue.queued([late.id, taken.id])).map((j) => j.id)).toEqual([late.id])
    })
  })

  describe('Store: assign is compare-and-set', () => {
    test('the first assign takes the job under attempt 1; a second one gets nothing', async () => {
      const job = await store.queue.create(newJob())
      const row = await store.leases.assign(job.id, 'w1', 10_000)
      expect(row).toMatchObject({
        id: job.id,
        state: 'assigned',
        attempt: 1,
        workerId: 'w1',
        leaseExpiresAt: 10_000,
      })
      expect(await store.leases.assign(job.id, 'w2', 20_000)).toBeUndefined()
      expect(await store.queue.job(job.id)).toMatchObject({
        state: 'assigned',
        attempt: 1,
        workerId: 'w1',
        leaseExpiresAt: 10_000,
      })
    })

    test('an unknown job cannot be assigned', async () => {
      expect(await store.leases.assign('nope', 'w1', 1)).toBeUndefined()
    })
  })

  describe('Store: markRunning', () => {
    test('only the holder of the current attempt can start it, once', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.markRunning(lease, 'w2', 500)).toBe(false)
      expect(await store.leases.markRunning({ ...lease, attempt: 2 }, 'w1', 500)).toBe(false)
      expect((await store.queue.job(lease.jobId))?.state).toBe('assigned')
      expect(await store.leases.markRunning(lease, 'w1', 500)).toBe(true)
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'running', startedAt: 500 })
      expect(await store.leases.markRunning(lease, 'w1', 600)).toBe(false)
      expect((await store.queue.job(lease.jobId))?.startedAt).toBe(500)
    })

    test('a queued job cannot be marked running', async () => {
      const job = await store.queue.create(newJob())
      expect(await store.leases.markRunning({ jobId: job.id, attempt: 0 }, 'w1', 1)).toBe(false)
      expect((await store.queue.job(job.id))?.state).toBe('queued')
    })
  })

  describe('Store: renew and leasesOf', () => {
    test('renew extends only leases the worker holds', async () => {
      const mine = await assigned('w1')
      const theirs = await assigned('w2')
      const renewed = await store.leases.renew(
        'w1',
        [mine, theirs, { jobId: mine.jobId, attempt: 7 }],
        99_000,
      )
      // What it extended, so a heartbeat knows which listed leases are not the worker's without another query.
      expect(renewed).toEqual([mine])
      expect((await store.queue.job(mine.jobId))?.leaseExpiresAt).toBe(99_000)
      expect((await store.queue.job(theirs.jobId))?.leaseExpiresAt).toBe(10_000)
      expect(await store.leases.leasesOf('w1')).toEqual([mine])
      expect(await store.leases.leasesOf('w2')).toEqual([theirs])
      await store.leases.finish(mine, 'w1', ok())
      expect(await store.leases.leasesOf('w1')).toEqual([])
    })
  })

  describe('Store: appendOutput', () => {
    test('output under the live lease is stored in seq order and counted', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.appendOutput(lease, 'w1', chunk(1, 'world'), 1000)).toBe('ok')
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, 'hello ', 'stderr'), 1000)).toBe('ok')
      expect(await store.leases.output(lease.jobId, 1, -1)).toEqual([
        chunk(0, 'hello ', 'stderr'),
        chunk(1, 'world'),
      ])
      expect(await store.leases.output(lease.jobId, 1, 0)).toEqual([chunk(1, 'world')])
      expect(await store.leases.output(lease.jobId, 2, -1)).toEqual([])
      expect((await store.queue.job(lease.jobId))?.outputBytes).toBe(11)
    })

    test('a stale lease is refused and nothing is written', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.appendOutput(lease, 'w2', chunk(0, 'x'), 1000)).toBe('stale')
      expect(await store.leases.appendOutput({ ...lease, attempt: 2 }, 'w1', chunk(0, 'x'), 1000)).toBe(
        'stale',
      )
      expect(await store.leases.appendOutput({ jobId: 'nope', attempt: 1 }, 'w1', chunk(0, 'x'), 1000)).toBe(
        'stale',
      )
      expect(await store.leases.finish(lease, 'w1', ok())).toBe(true)
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, 'late'), 1000)).toBe('stale')
      expect(await store.leases.output(lease.jobId, 1, -1)).toEqual([])
      expect(await store.leases.output(lease.jobId, 2, -1)).toEqual([])
      expect((await store.queue.job(lease.jobId))?.outputBytes).toBe(0)
    })

    test('output up to the cap is kept; a chunk that would pass it is refused whole', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, '12345'), 10)).toBe('ok')
      expect(await store.leases.appendOutput(lease, 'w1', chunk(1, '67890'), 10)).toBe('ok')
      expect((await store.queue.job(lease.jobId))?.outputBytes).toBe(10)
      expect(await store.leases.appendOutput(lease, 'w1', chunk(2, 'x'), 10)).toBe('capped')
      expect((await store.leases.output(lease.jobId, 1, -1)).map((c) => c.seq)).toEqual([0, 1])
      expect((await store.queue.job(lease.jobId))?.outputBytes).toBe(10)
      // A fresh job with one oversized chunk.
      const big = await assigned('w1')
      expect(await store.leases.appendOutput(big, 'w1', chunk(0, 'x'.repeat(11)), 10)).toBe('capped')
      expect(await store.leases.output(big.jobId, 1, -1)).toEqual([])
    })

    test('a running job accepts output too', async () => {
      const lease = await assigned('w1')
      await store.leases.markRunning(lease, 'w1', 1)
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, 'x'), 10)).toBe('ok')
    })

    test('a resent chunk (same seq) is stored once and keeps its first data', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, 'first'), 1000)).not.toBe('stale')
      await store.leases.appendOutput(lease, 'w1', chunk(0, 'again'), 1000)
      expect(await store.leases.output(lease.jobId, 1, -1)).toEqual([chunk(0, 'first')])
    })

    // BUG (src/coordinator/store.ts appendOutput, ~lines 186-193): a chunk resent with the same seq
    // (the agent resends its outbox after a reconnect, "seq numbers make resending safe") is not
    // inserted (onConflictDoNothing) but outputBytes still grows by its length and 'ok' is returned,
    // so resends eat into the output cap and can stop a well-behaved job with output_limit, and the
    // lifecycle republishes the duplicate. Fix: check the insert's `changes`; when 0, skip the update
    // and return a 'duplicate' result (or 'ok' without publishing).
    test('a resent chunk does not count twice against the cap', async () => {
      const lease = await assigned('w1')
      await store.leases.appendOutput(lease, 'w1', chunk(0, 'hello'), 1000)
      await store.leases.appendOutput(lease, 'w1', chunk(0, 'hello'), 1000)
      expect((await store.queue.job(lease.jobId))?.outputBytes).toBe(5)
      expect(await store.leases.appendOutput(lease, 'w1', chunk(1, 'world'), 10)).toBe('ok')
    })
  })

  describe('Store: finish is idempotent by (job, attempt)', () => {
    test('the first report ends the job; a repeat changes nothing', async () => {
      const lease = await assigned('w1')
      await store.leases.markRunning(lease, 'w1', 100)
      expect(await store.leases.finish(lease, 'w1', ok(0, 5000))).toBe(true)
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'succeeded',
        exitCode: 0,
        outcome: 'exited',
        error: null,
        finishedAt: 5000,
        leaseExpiresAt: null,
      })
      expect(await store.leases.finish(lease, 'w1', ok(3, 6000))).toBe(false)
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'succeeded',
        exitCode: 0,
        finishedAt: 5000,
      })
    })

    test('a wrong attempt or a wrong worker cannot end it', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.finish({ ...lease, attempt: 2 }, 'w1', ok())).toBe(false)
      expect(await store.leases.finish({ ...lease, attempt: 0 }, 'w1', ok())).toBe(false)
      expect(await store.leases.finish(lease, 'w2', ok())).toBe(false)
      expect((await store.queue.job(lease.jobId))?.state).toBe('assigned')
      expect(await store.leases.finish(lease, 'w1', ok(2))).toBe(true)
      expect(await store.queue.job(lease.jobId)).toMatchObject({ state: 'failed', exitCode: 2 })
    })

    test('a queued job cannot be finished', async () => {
      const job = await store.queue.create(newJob())
      expect(await store.leases.finish({ jobId: job.id, attempt: 0 }, 'w1', ok())).toBe(false)
      expect((await store.queue.job(job.id))?.state).toBe('queued')
    })
  })

  describe('Store: cancel', () => {
    test('a queued job is cancelled; the row before is returned', async () => {
      const job = await store.queue.create(newJob())
      const before = await store.leases.cancel(job.id, 700, () => NOTHING)
      expect(before).toMatchObject({ id: job.id, state: 'queued' })
      expect(await store.queue.job(job.id)).toMatchObject({
        state: 'cancelled',
        outcome: 'cancelled',
        exitCode: null,
        finishedAt: 700,
      })
      expect(await store.leases.assign(job.id, 'w1', 1)).toBeUndefined()
    })

    test('a running job is cancelled and its lease is dead', async () => {
      const lease = await assigned('w1')
      await store.leases.markRunning(lease, 'w1', 100)
      const before = await store.leases.cancel(lease.jobId, 800, () => NOTHING)
      expect(before).toMatchObject({ state: 'running', workerId: 'w1', attempt: 1 })
      expect(await store.queue.job(lease.jobId)).toMatchObject({
        state: 'cancelled',
        leaseExpiresAt: null,
        finishedAt: 800,
      })
      expect(await store.leases.finish(lease, 'w1', ok())).toBe(false)
      expect(await store.leases.appendOutput(lease, 'w1', chunk(0, 'x'), 100)).toBe('stale')
      expect(await store.leases.leasesOf('w1')).toEqual([])
    })

    test('an ended or unknown job cannot be cancelled', async () => {
      const lease = await assigned('w1')
      await store.leases.finish(lease, 'w1', ok())
      expect(await store.leases.cancel(lease.jobId, 900, () => NOTHING)).toBeUndefined()
      expect((await store.queue.job(lease.jobId))?.state).toBe('succeeded')
      const job = await store.queue.create(newJob())
      expect(await store.leases.cancel(job.id, 1, () => NOTHING)).toBeDefined()
      expect(await store.leases.cancel(job.id, 2, () => NOTHING)).toBeUndefined()
      expect((await store.queue.job(job.id))?.finishedAt).toBe(1)
      expect(await store.leases.cancel('nope', 1, () => NOTHING)).toBeUndefined()
    })
  })

  describe('Store: expired and requeue', () => {
    test('expired finds active jobs whose lease ran out strictly before now', async () => {
      const a = await assigned('w1')
      const b = await assigned('w2')
      await store.leases.markRunning(b, 'w2', 1)
      const done = await assigned('w3')
      await store.leases.finish(done, 'w3', ok())
      await store.queue.create(newJob())
      expect(await store.leases.expired(10_000)).toEqual([])
      expect((await store.leases.expired(10_001)).map((j) => j.id).sort()).toEqual([a.jobId, b.jobId].sort())
      await store.leases.renew('w1', [a], 50_000)
      expect((await store.leases.expired(10_001)).map((j) => j.id)).toEqual([b.jobId])
    })

    test('requeue puts the job back until maxAttempts, then fails it', async () => {
      const job = await store.queue.create(newJob({ maxAttempts: 3 }))
      for (const attempt of [1, 2]) {
        const row = await store.leases.assign(job.id, `w${attempt}`, 100)
        expect(row?.attempt).toBe(attempt)
        const lease = { jobId: job.id, attempt }
        await store.leases.appendOutput(lease, `w${attempt}`, chunk(0, 'partial'), 1000)
        expect(await store.leases.requeue(lease, `lease expired on w${attempt}`, 200)).toBe('queued')
        expect(await store.queue.job(job.id)).toMatchObject({
          state: 'queued',
          attempt,
          workerId: null,
          leaseExpiresAt: null,
          startedAt: null,
          outputBytes: 0,
          error: `lease expired on w${attempt}`,
        })
      }
      expect((await store.leases.assign(job.id, 'w3', 100))?.attempt).toBe(3)
      expect(await store.leases.requeue({ jobId: job.id, attempt: 3 }, 'lease expired on w3', 300)).toBe(
        'failed',
      )
      expect(await store.queue.job(job.id)).toMatchObject({
        state: 'failed',
        outcome: 'lost',
        error: 'lease expired on w3',
        finishedAt: 300,
        leaseExpiresAt: null,
      })
      expect(await store.leases.assign(job.id, 'w4', 100)).toBeUndefined()
    })

    test('maxAttempts 1 fails on the first loss', async () => {
      const lease = await assigned('w1', { maxAttempts: 1 })
      expect(await store.leases.requeue(lease, 'gone', 1)).toBe('failed')
    })

    test('a stale requeue changes nothing', async () => {
      const lease = await assigned('w1')
      expect(await store.leases.requeue({ ...lease, attempt: 2 }, 'x', 1)).toBe('stale')
      expect((await store.queue.job(lease.jobId))?.state).toBe('assigned')
      expect(await store.leases.requeue(lease, 'x', 1)).toBe('queued')
      expect(await store.leases.requeue(lease, 'x again', 2)).toBe('stale')
      expect((await store.queue.job(lease.jobId))?.error).toBe('x')
    })

    test('after a requeue the old lease is fenced off, even on the same worker', async () => {
      const old = await assigned('w1')
      await store.leases.requeue(old, 'lease expired', 1)
      expect((await store.leases.assign(old.jobId, 'w1', 100))?.attempt).toBe(2)
      expect(await store.leases.markRunning(old, 'w1', 2)).toBe(false)
      expect(await store.leases.appendOutput(old, 'w1', chunk(0, 'old'), 100)).toBe('stale')
      expect(await store.leases.finish(old, 'w1', ok())).toBe(false)
      expect(await store.queue.job(old.jobId)).toMatchObject({ state: 'assigned', attempt: 2 })
      // The old attempt's output stays apart from the new one's.
      const fresh = { jobId: old.jobId, attempt: 2 }
      expect(await store.leases.appendOutput(fresh, 'w1', chunk(0, 'new'), 100)).toBe('ok')
      expect(await store.leases.output(old.jobId, 2, -1)).toEqual([chunk(0, 'new')])
    })
  })

  describe('Store: counts', () => {
    test('counts queued, assigned and running jobs; final states are left out', async () => {
      expect(await store.queue.counts()).toEqual({})
      await store.queue.create(newJob())
      await store.queue.create(newJob())
      await assigned('w1')
      const r = await assigned('w2')
      await store.leases.markRunning(r, 'w2', 1)
      const f = await assigned('w3')
      await store.leases.finish(f, 'w3', ok())
      await store.leases.cancel((await store.queue.create(newJob())).id, 1, () => NOTHING)
      expect(await store.queue.counts()).toEqual({ queued: 2, assigned: 1, running: 1 })
    })
  })
})

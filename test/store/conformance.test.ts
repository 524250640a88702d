import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { inviteHash } from '../../src/coordinator/store/invite-rules'
import type { Store } from '../../src/coordinator/store/types'
import { GRANT, newJob, ok, paid, rejection, seed } from '../support/store-fixtures'
import { closeStore, ENGINES } from '../support/stores'

// The rest of the store's contract (invites, operators, files, the ledger's history, queue views,
// deadlines, staging and receipts), on both engines; test/unit/store.test.ts has the core of it.

let store: Store
const lease = (jobId: string, attempt = 1) => ({ jobId, attempt })

describe.each(ENGINES)('$name', (engine) => {
  beforeEach(async () => {
    store = await seed(await engine.open())
  })
  afterEach(async () => {
    await closeStore(store)
  })

  describe('accounts, tokens, invites, workers', () => {
    test('the first account is the operator; an account reads back whole', async () => {
      expect(store.engine).toBe(engine.name)
      expect(await store.accounts.exist()).toBe(true)
      expect(await store.accounts.operators()).toEqual(['alice'])
      const bob = await store.accounts.byName('bob')
      expect(bob).toEqual({
        id: 'u-bob',
        name: 'bob',
        passwordHash: 'hash-bob',
        isAdmin: false,
        createdAt: 2,
        inviteId: null,
      })
      expect(await store.accounts.byId('u-bob')).toEqual(bob)
      expect(await store.accounts.byId('u-nobody')).toBeUndefined()
    })

    test('setOperators: the first account plus named ones that exist, and the names missing', async () => {
      expect(await store.accounts.setOperators(['bob', 'carol'])).toEqual({
        operators: ['alice', 'bob'],
        missing: ['carol'],
      })
      expect(await store.accounts.setOperators([])).toEqual({ operators: ['alice'], missing: [] })
      expect((await store.accounts.byName('bob'))?.isAdmin).toBe(false)
    })

    test('accounts made in one millisecond: the one made first is the operator, and operators list in the order made', async () => {
      // Made after alice in the same millisecond, with an id that sorts before hers.
      await store.accounts.create(
        { id: 'u-aaa', name: 'zed', passwordHash: 'h', createdAt: 1 },
        { signup: 'open', grant: 1 },
      )
      expect(await store.accounts.setOperators(['bob', 'zed'])).toEqual({
        operators: ['alice', 'zed', 'bob'],
        missing: [],
      })
      expect(await store.accounts.setOperators([])).toEqual({ operators: ['alice'], missing: [] })
      expect((await store.accounts.byName('zed'))?.isAdmin).toBe(false)
    })

    test('invites: sign-up by invite takes one use and its grant; refusals say why', async () => {
      expect(
        await rejection(
          store.accounts.create(
            { id: 'u-c', name: 'carol', passwordHash: 'h', createdAt: 5 },
            { signup: 'invite', grant: 1 },
          ),
        ),
      ).toMatchObject({ code: 'invite_required' })
      const inv = await store.invites.create('u-alice', { grantMc: 777, uses: 1, expiresAt: 10_000, now: 4 })
      expect(inv).toMatchObject({ createdBy: 'alice', uses: 1, used: 0, state: 'active', usedBy: [] })
      const hash = inviteHash(inv.code)
      await store.invites.check(hash, 5)
      const carol = await store.accounts.create(
        { id: 'u-c', name: 'carol', passwordHash: 'h', createdAt: 5 },
        { signup: 'invite', grant: 1, inviteHash: hash },
      )
      expect(carol.inviteId).toBe(inv.id)
      expect((await store.credits.of('u-c', 10)).balance).toBe(777)
      expect(await rejection(store.invites.check(hash, 6))).toMatchObject({
        code: 'invite_used',
        status: 403,
      })
      expect(
        await rejection(
          store.accounts.create(
            { id: 'u-d', name: 'dave', passwordHash: 'h', createdAt: 6 },
            { signup: 'invite', grant: 1, inviteHash: hash },
          ),
        ),
      ).toMatchObject({ code: 'invite_used' })
      expect(await store.accounts.byName('dave')).toBeUndefined()
      const [listed] = await store.invites.list(7)
      expect(listed).toMatchObject({ id: inv.id, used: 1, state: 'used', usedBy: ['carol'] })
      expect(await store.invites.revoke(inv.id, 8)).toMatchObject({ state: 'revoked' })
      expect(await rejection(store.invites.revoke('nope', 8))).toMatchObject({ code: 'invite_not_found' })
      expect(await rejection(store.invites.check(inviteHash('gxi_wrong'), 8))).toMatchObject({
        code: 'invite_invalid',
      })
    })

    test('workers are pinned to their first owner and key', async () => {
      const w = await store.workers.upsert('w-bob', 'u-bob', 'renamed', 9, 'key-bob')
      expect(w).toEqual({
        id: 'w-bob',
        ownerId: 'u-bob',
        name: 'renamed',
        publicKey: 'key-bob',
        firstSeenAt: 3,
        lastSeenAt: 9,
      })
      expect(await store.workers.get('w-bob')).toEqual(w)
      expect(await rejection(store.workers.upsert('w-bob', 'u-alice', 'x', 10, 'key-bob'))).toMatchObject({
        code: 'worker_owned',
      })
      expect(await rejection(store.workers.upsert('w-bob', 'u-bob', 'x', 10, 'other'))).toMatchObject({
        code: 'worker_key_mismatch',
      })
    })
  })

  describe('files and credits', () => {
    test('uploads: recorded, renewed, kept while needed, forgotten after the cutoff', async () => {
      await store.files.recordUpload('a'.repeat(64), 'u-alice', 4096, 3, 100)
      await store.files.recordUpload('b'.repeat(64), 'u-alice', 10, 1, 100)
      await store.files.recordUpload('b'.repeat(64), 'u-alice', 10, 1, 300)
      expect(await store.files.uploadOf('a'.repeat(64), 'u-alice')).toEqual({ bytes: 4096, files: 3 })
      expect(await store.files.uploadOf('a'.repeat(64), 'u-bob')).toBeUndefined()
      await store.queue.create(newJob({ id: 'j-in', inputsSha256: 'c'.repeat(64), inputsBytes: 50 }))
      expect(await store.files.keptArchives('u-alice', 200)).toEqual(
        new Map([
          ['b'.repeat(64), 10],
          ['c'.repeat(64), 50],
        ]),
      )
      expect(await store.files.toKeep(200)).toEqual(new Set(['b'.repeat(64), 'c'.repeat(64)]))
      expect(await store.files.uploadOf('a'.repeat(64), 'u-alice')).toBeUndefined()
    })

    test('outputs count for their owner while the job lives, and once it ended as long as it is kept', async () => {
      const staged = (n: number) => ({ sha256: String(n).repeat(64), bytes: n * 10, files: 1, dataBytes: n })
      const out = (n: number) => ({ sha256: String(n).repeat(64), bytes: n * 10, files: 1 })
      // Requeued after it staged: its first attempt's archive stays while the job lives.
      const again = await store.queue.create(newJob())
      await store.leases.assign(again.id, 'w-bob', 99_999, 50)
      await store.leases.stageOutputs(lease(again.id), 'w-bob', staged(1))
      expect(await store.leases.requeue(lease(again.id), 'worker lost', 60)).toBe('queued')
      // Ended with its outputs at 300, and one at 100 (before the cutoff of 200).
      for (const [n, at] of [
        [2, 300],
        [3, 100],
      ] as const) {
        const done = await store.queue.create(newJob())
        await store.leases.assign(done.id, 'w-bob', 99_999, at - 10)
        await store.leases.stageOutputs(lease(done.id), 'w-bob', staged(n))
        expect(await store.leases.finish(lease(done.id), 'w-bob', { ...ok(0, at), outputs: out(n) })).toBe(
          true,
        )
      }
      // Staged 5, requeued, then ended in the window with 6: only what it ended with is kept.
      const redone = await store.queue.create(newJob())
      await store.leases.assign(redone.id, 'w-bob', 99_999, 250)
      await store.leases.stageOutputs(lease(redone.id), 'w-bob', staged(5))
      expect(await store.leases.requeue(lease(redone.id), 'worker lost', 260)).toBe('queued')
      const second = { jobId: redone.id, attempt: 2 }
      await store.leases.assign(redone.id, 'w-bob', 99_999, 270)
      await store.leases.stageOutputs(second, 'w-bob', staged(6))
      expect(await store.leases.finish(second, 'w-bob', { ...ok(0, 280), outputs: out(6) })).toBe(true)
      // Running, staged: bob's, not alice's.
      const bobs = await store.queue.create(newJob({ ownerId: 'u-bob' }))
      await store.leases.assign(bobs.id, 'w-bob', 99_999, 50)
      await store.leases.stageOutputs(lease(bobs.id), 'w-bob', staged(4))
      expect(await store.files.keptArchives('u-alice', 200)).toEqual(
        new Map([
          ['1'.repeat(64), 10],
          ['2'.repeat(64), 20],
          ['6'.repeat(64), 60],
        ]),
      )
      expect(await store.files.keptArchives('u-alice', 400)).toEqual(new Map([['1'.repeat(64), 10]]))
      expect(await store.files.keptArchives('u-bob', 200)).toEqual(new Map([['4'.repeat(64), 40]]))
      expect(await store.files.toKeep(200)).toEqual(new Set(['1', '2', '4', '6'].map((c) => c.repeat(64))))
    })

    test('grant, escrow, settlement and history; the audit stays exact', async () => {
      await store.credits.grant('bob', 500, 'thanks', 10)
      expect(await rejection(store.credits.grant('nobody', 5, 'x', 10))).toMatchObject({
        code: 'user_not_found',
      })
      expect(await rejection(store.queue.create(newJob({ maxCost: GRANT + 1 })))).toMatchObject({
        code: 'insufficient_credits',
        status: 402,
      })
      expect(await store.queue.job(`job-${0}`)).toBeUndefined()
      const job = await store.queue.create(newJob({ maxCost: 4000 }))
      expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT - 4000, escrow: 4000 })
      await store.leases.assign(job.id, 'w-bob', 99_999, 2000)
      expect(await store.leases.finish(lease(job.id), 'w-bob', paid(1500))).toBe(true)
      expect(await store.leases.finish(lease(job.id), 'w-bob', paid(1500))).toBe(false)
      expect((await store.queue.job(job.id))?.cost).toBe(1500)
      const alice = await store.credits.of('u-alice', 10)
      expect(alice).toMatchObject({ balance: GRANT - 1500, escrow: 0 })
      // The hold and its release are no transfers (the job row says them): the pay alone shows.
      expect(alice.history.map((h) => [h.kind, h.counterparty, h.amount, h.account])).toEqual([
        ['pay', 'bob', -1500, 'escrow'],
        ['grant', 'grant', GRANT, 'balance'],
      ])
      const older = await store.credits.of('u-alice', 10, alice.history[0]!.seq)
      expect(older.history.map((h) => h.kind)).toEqual(['grant'])
      expect((await store.credits.of('u-bob', 10)).balance).toBe(GRANT + 500 + 1500)
      expect(await store.credits.audit()).toEqual({
        minted: 2 * GRANT + 500,
        balances: 2 * GRANT + 500,
        escrow: 0,
        escrowDue: 0,
        mintBalance: -(2 * GRANT + 500),
        negativeAccounts: 0,
        transfers: 4,
        ok: true,
      })
    })
    test('history holds every transfer a user is on either side of, each once, and pages cut nowhere', async () => {
      // Filed under the payer, and indexed again under whom a pay credits: a pay to someone else
      // must show to both, a pay to oneself once, a grant to whom it credits.
      await store.workers.upsert('w-alice', 'u-alice', 'alices-box', 3, 'key-alice')
      const run = async (ownerId: string, workerId: string, cost: number) => {
        const job = await store.queue.create(newJob({ ownerId, maxCost: 4000 }))
        await store.leases.assign(job.id, workerId, 99_999, 2000)
        expect(await store.leases.finish(lease(job.id), workerId, paid(cost))).toBe(true)
      }
      await run('u-alice', 'w-bob', 1000)
      await run('u-bob', 'w-alice', 700)
      await store.credits.grant('alice', 300, 'thanks', 10)
      await run('u-bob', 'w-bob', 4000)
      const lines = async (user: string) => {
        const whole = (await store.credits.of(user, 100)).history
        const paged = []
        let before: number | undefined
        for (;;) {
          const page = (await store.credits.of(user, 2, before)).history
          if (page.length === 0) break
          paged.push(...page)
          before = page.at(-1)!.seq
        }
        expect(paged).toEqual(whole)
        // The lines add up to what the user has, balance and escrow together.
        const { balance, escrow } = await store.credits.of(user, 1)
        expect(whole.reduce((n, h) => n + h.amount, 0)).toBe(balance + escrow)
        return whole.map((h) => [h.kind, h.counterparty, h.amount])
      }
      expect(await lines('u-alice')).toEqual([
        ['grant', 'grant', 300],
        ['pay', 'bob', 700],
        ['pay', 'bob', -1000],
        ['grant', 'grant', GRANT],
      ])
      // Bob's own job on his own worker: the pay shows once, as 0 (from his escrow to his balance).
      expect(await lines('u-bob')).toEqual([
        ['pay', 'yourself', 0],
        ['pay', 'alice', -700],
        ['pay', 'alice', 1000],
        ['grant', 'grant', GRANT],
      ])
    })
    test("settlement when the worker's owner ran their own job, and when nothing is owed: balances and audit exact", async () => {
      // Pay and release land on one account: its net change must count both, and the escrow neither.
      const own = await store.queue.create(newJob({ ownerId: 'u-bob', maxCost: 4000 }))
      await store.leases.assign(own.id, 'w-bob', 99_999, 2000)
      expect(await store.leases.finish(lease(own.id), 'w-bob', paid(1500))).toBe(true)
      expect(await store.leases.finish(lease(own.id), 'w-bob', paid(1500))).toBe(false)
      expect(await store.credits.of('u-bob', 10)).toMatchObject({ balance: GRANT, escrow: 0 })
      // A job that cost nothing: the release alone moves.
      const free = await store.queue.create(newJob({ maxCost: 900 }))
      await store.leases.assign(free.id, 'w-bob', 99_999, 2000)
      expect(await store.leases.finish(lease(free.id), 'w-bob', paid(0))).toBe(true)
      expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT, escrow: 0 })
      // And one that cost all it escrowed: the payment alone.
      const full = await store.queue.create(newJob({ maxCost: 700 }))
      await store.leases.assign(full.id, 'w-bob', 99_999, 2000)
      expect(await store.leases.finish(lease(full.id), 'w-bob', paid(5000))).toBe(true)
      expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT - 700, escrow: 0 })
      expect(await store.credits.of('u-bob', 10)).toMatchObject({ balance: GRANT + 700, escrow: 0 })
      expect(await store.credits.audit()).toMatchObject({
        escrow: 0,
        negativeAccounts: 0,
        // Two grants, then a pay for each job that cost something.
        transfers: 2 + 1 + 0 + 1,
        ok: true,
      })
    })

    test('submissions in one batch: each escrowed in turn, the one the balance left cannot cover refused with what was left', async () => {
      const asked = [4000, 4000, 4000, 1500].map((maxCost) =>
        store.queue.create(newJob({ maxCost })).then(
          (j) => j.maxCost,
          (err: unknown) => err,
        ),
      )
      const [a, b, c, d] = await Promise.all(asked)
      expect([a, b, d]).toEqual([4000, 4000, 1500])
      expect(c).toMatchObject({ code: 'insufficient_credits', status: 402 })
      // What the batch left when it came to it: 2 credits, or 0.5 where the 1.5 one went first
      // (PostgreSQL queues a turn's submissions in its own order; all four were asked at once).
      expect(String((c as Error).message)).toMatch(/you have (2|0\.5) /)
      expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT - 9500, escrow: 9500 })
      expect(await store.credits.audit()).toMatchObject({
        escrow: 9500,
        escrowDue: 9500,
        transfers: 2,
        ok: true,
      })
    })

    test('results settled in one batch: each paid once, a repeat in the same batch pays nothing, the audit exact', async () => {
      const jobs = await Promise.all(
        [4000, 900, 700, 300].map((maxCost, i) =>
          store.queue.create(newJob({ maxCost, ownerId: i === 3 ? 'u-bob' : 'u-alice' })),
        ),
      )
      for (const j of jobs) await store.leases.assign(j.id, 'w-bob', 99_999, 2000)
      // All asked for at once, as a worker's results of one turn are: one of them twice.
      const [first, again, ...rest] = await Promise.all([
        store.leases.finish(lease(jobs[0]!.id), 'w-bob', paid(1500)),
        store.leases.finish(lease(jobs[0]!.id), 'w-bob', paid(1500)),
        store.leases.finish(lease(jobs[1]!.id), 'w-bob', paid(0)),
        store.leases.finish(lease(jobs[2]!.id), 'w-bob', paid(5000)),
        store.leases.finish(lease(jobs[3]!.id), 'w-bob', paid(100)),
      ])
      expect([first, again].sort()).toEqual([false, true])
      expect(rest).toEqual([true, true, true])
      expect(await store.credits.of('u-alice', 10)).toMatchObject({ balance: GRANT - 1500 - 700, escrow: 0 })
      expect(await store.credits.of('u-bob', 10)).toMatchObject({ balance: GRANT + 1500 + 700, escrow: 0 })
      // 2 grants, then a pay for 1500, none for the free one, one for 700, and bob paying himself 100.
      expect(await store.credits.audit()).toMatchObject({
        escrow: 0,
        negativeAccounts: 0,
        transfers: 2 + 1 + 0 + 1 + 1,
        ok: true,
      })
      expect((await store.queue.job(jobs[0]!.id))?.cost).toBe(1500)
    })

    test("jobLease: the job row's attempt, holder, state and billing terms at each step, and nothing for an unknown job", async () => {
      const job = await store.queue.create(newJob({ cpus: 1.5, timeoutMs: 45_000 }))
      const leaseOf = async () => {
        const row = (await store.queue.job(job.id))!
        const fields = [
          'id',
          'ownerId',
          'state',
          'attempt',
          'workerId',
          'startedAt',
          'cpus',
          'timeoutMs',
          'hasDependents',
        ] as const
        const got = await store.queue.jobLease(job.id)
        expect(got).toEqual(Object.fromEntries(fields.map((f) => [f, row[f]])) as typeof got)
        return got!
      }
      expect(await leaseOf()).toMatchObject({
        state: 'queued',
        attempt: 0,
        workerId: null,
        cpus: 1.5,
        timeoutMs: 45_000,
      })
      await store.leases.assign(job.id, 'w-bob', 99_999, 2000)
      expect(await leaseOf()).toMatchObject({
        state: 'assigned',
        attempt: 1,
        workerId: 'w-bob',
        startedAt: null,
      })
      await store.leases.markRunning(lease(job.id), 'w-bob', 2500)
      expect(await leaseOf()).toMatchObject({ state: 'running', startedAt: 2500, hasDependents: false })
      await store.leases.finish(lease(job.id), 'w-bob', paid(100))
      expect(await leaseOf()).toMatchObject({ state: 'succeeded', attempt: 1 })
      expect(await store.queue.jobLease('no-such-job')).toBeUndefined()
    })

    test('escrowTotal: the sum over every user escrow, equal to the audit, as jobs escrow and settle', async () => {
      expect(await store.credits.escrowTotal()).toBe(0)
      const a = await store.queue.create(newJob({ maxCost: 4000 }))
      await store.queue.create(newJob({ ownerId: 'u-bob', maxCost: 700 }))
      expect(await store.credits.escrowTotal()).toBe(4700)
      expect((await store.credits.audit()).escrow).toBe(4700)
      await store.leases.assign(a.id, 'w-bob', 99_999, 2000)
      await store.leases.finish(lease(a.id), 'w-bob', paid(1500))
      expect(await store.credits.escrowTotal()).toBe(700)
      expect((await store.credits.audit()).escrow).toBe(700)
    })
  })

  describe('queue, leases, deadlines', () => {
    test('queue views: fair-share order without scripts, positions, counts', async () => {
      const a1 = await store.queue.create(newJob())
      const a2 = await store.queue.create(newJob({ priority: 5 }))
      const b1 = await store.queue.create(newJob({ ownerId: 'u-bob' }))
      const queued = await store.queue.queued()
      expect(queued.filter((j) => j.ownerId === 'u-alice').map((j) => j.id)).toEqual([a2.id, a1.id])
      expect(queued.filter((j) => j.ownerId === 'u-bob').map((j) => j.id)).toEqual([b1.id])
      expect('script' in queued[0]!).toBe(false)
      expect(await store.queue.position(a1)).toEqual({ aheadOfMine: 1, queued: 3 })
      await store.leases.assign(a2.id, 'w-bob', 50_000, 2000)
      expect(await store.queue.counts()).toEqual({ queued: 2, assigned: 1 })
      expect(await store.queue.active()).toEqual([{ id: a2.id, ownerId: 'u-alice', arrayId: null }])
      expect((await store.queue.jobsOf('u-alice', 10)).map((j) => j.id)).toEqual([a2.id, a1.id])
      expect(a1.script).toEqual(Buffer.from('print("hi")\n'))
      expect(a1).toMatchObject({
        command: ['python3', 'job.py'],
        requirements: [],
        installFailedOn: [],
        cpus: 1,
      })
    })

    test('a lease from assignment to output, staging and result; stale reports change nothing', async () => {
      const job = await store.queue.create(newJob({ timeoutMs: 1000 }))
      const a = await store.leases.assign(job.id, 'w-bob', 50_000, 2000, 300)
      expect(a).toMatchObject({ state: 'assigned', attempt: 1, workerId: 'w-bob', deadlineAt: 3300 })
      expect(await store.leases.assign(job.id, 'w-bob', 50_000, 2000)).toBeUndefined()
      expect(await store.deadlines.since(lease(job.id))).toBe(2000)
      expect(await store.leases.markRunning(lease(job.id), 'w-other', 2100)).toBe(false)
      expect(await store.leases.markRunning(lease(job.id), 'w-bob', 2100, 50)).toBe(true)
      expect(await store.deadlines.since(lease(job.id))).toBe(2100)
      expect((await store.queue.job(job.id))?.deadlineAt).toBe(3150)
      expect(await store.deadlines.extend(lease(job.id), 'w-bob', 3000)).toBe(true)
      expect((await store.queue.job(job.id))?.deadlineAt).toBe(3150)
      expect(await store.deadlines.extend(lease(job.id), 'w-bob', 4000)).toBe(true)
      expect(await store.deadlines.overdue(4001)).toEqual([
        { id: job.id, attempt: 1, state: 'running', workerId: 'w-bob', cpus: 1, timeoutMs: 1000 },
      ])
      const chunk = { seq: 0, stream: 'stdout' as const, data: Buffer.from('hello') }
      expect(await store.leases.appendOutput(lease(job.id), 'w-bob', chunk, 8)).toBe('ok')
      expect(await store.leases.appendOutput(lease(job.id), 'w-bob', chunk, 100)).toBe('duplicate')
      expect(await store.leases.appendOutput(lease(job.id), 'w-bob', { ...chunk, seq: 1 }, 8)).toBe('capped')
      expect(await store.leases.appendOutput(lease(job.id, 2), 'w-bob', { ...chunk, seq: 1 }, 8)).toBe(
        'stale',
      )
      expect(await store.leases.output(job.id, 1, -1)).toEqual([chunk])
      const out = { sha256: 'd'.repeat(64), bytes: 100, files: 2, dataBytes: 40 }
      expect(await store.leases.stageOutputs(lease(job.id), 'w-bob', out)).toEqual({ result: 'staged' })
      expect(
        await store.leases.stageOutputs(lease(job.id), 'w-bob', { ...out, sha256: 'e'.repeat(64) }),
      ).toEqual({
        result: 'other',
        sha256: 'd'.repeat(64),
      })
      expect(await store.leases.stagedOutputs(lease(job.id))).toEqual({
        sha256: 'd'.repeat(64),
        bytes: 100,
        files: 2,
        dataBytes: 40,
      })
      expect(await store.leases.leasesOf('w-bob')).toEqual([lease(job.id)])
      const receipt = { body: '{"r":1}', signature: 'sig' }
      expect(await store.leases.finish(lease(job.id), 'w-bob', { ...paid(0), receipt })).toBe(true)
      expect(await store.leases.recordedReceipt(lease(job.id))).toEqual(receipt)
      expect(await store.leases.leasesOf('w-bob')).toEqual([])
      const [att] = await store.leases.attemptsOf(job.id)
      expect(att).toMatchObject({
        attempt: 1,
        workerId: 'w-bob',
        assignedAt: 2000,
        startedAt: 2100,
        endedAt: 5000,
      })
    })

    test('requeue until the attempts are used up; a draining release keeps the count; cancel settles', async () => {
      const job = await store.queue.create(newJob({ maxAttempts: 2, maxCost: 1000 }))
      await store.leases.assign(job.id, 'w-bob', 10, 1)
      expect(await store.leases.expired(11)).toMatchObject([{ id: job.id }])
      expect(await store.leases.requeue(lease(job.id), 'lost', 12, 'w-other')).toBe('stale')
      const avoid = { outcome: 'install_failed', consumesAttempt: true, avoidWorker: true }
      expect(await store.leases.requeue(lease(job.id), 'lost', 12, 'w-bob', avoid)).toBe('queued')
      expect(await store.queue.job(job.id)).toMatchObject({
        state: 'queued',
        installFailedOn: ['w-bob'],
        error: 'lost',
      })
      await store.leases.assign(job.id, 'w-bob', 20, 13)
      const release = { outcome: 'released', consumesAttempt: false }
      expect(await store.leases.requeue(lease(job.id, 2), 'draining', 14, 'w-bob', release)).toBe('queued')
      expect((await store.queue.job(job.id))?.maxAttempts).toBe(3)
      await store.leases.assign(job.id, 'w-bob', 30, 15)
      expect(await store.leases.requeue(lease(job.id, 3), 'gone', 16)).toBe('failed')
      expect(await store.queue.job(job.id)).toMatchObject({
        state: 'failed',
        outcome: 'lost',
        error: 'gone',
        cost: 0,
      })
      expect((await store.credits.of('u-alice', 1)).balance).toBe(GRANT)

      const run = await store.queue.create(newJob({ maxCost: 1000 }))
      await store.leases.assign(run.id, 'w-bob', 99_999, 20)
      await store.leases.markRunning(lease(run.id), 'w-bob', 21)
      const before = await store.leases.cancel(run.id, 30, () => ({ cost: 300, billedMs: 9 }))
      expect(before?.state).toBe('running')
      expect(await store.leases.cancel(run.id, 31, () => ({ cost: 300, billedMs: 9 }))).toBeUndefined()
      expect(await store.queue.job(run.id)).toMatchObject({ state: 'cancelled', cost: 300, billedMs: 9 })
      expect((await store.leases.attemptsOf(run.id))[0]).toMatchObject({ outcome: 'cancelled', endedAt: 30 })
      expect((await store.credits.audit()).ok).toBe(true)
    })

    test('starts asked at once: each attempt started once, with its time and deadline; stale and repeated ones refused', async () => {
      const jobs = await Promise.all([1, 2, 3].map(() => store.queue.create(newJob())))
      for (const j of jobs) await store.leases.assign(j.id, 'w-bob', 99_999, 2000)
      const [a, b, again, c, stale] = await Promise.all([
        store.leases.markRunning(lease(jobs[0]!.id), 'w-bob', 3000, 500, 2500),
        store.leases.markRunning(lease(jobs[1]!.id), 'w-bob', 3000, 500),
        store.leases.markRunning(lease(jobs[1]!.id), 'w-bob', 3000, 500),
        store.leases.markRunning(lease(jobs[2]!.id), 'w-bob', 3000, 500),
        store.leases.markRunning(lease(jobs[2]!.id, 2), 'w-bob', 3000, 500),
      ])
      expect([a, c, stale]).toEqual([true, true, false])
      expect([b, again].sort()).toEqual([false, true])
      const first = await store.queue.job(jobs[0]!.id)
      expect(first).toMatchObject({
        state: 'running',
        startedAt: 2500,
        deadlineAt: 3000 + first!.timeoutMs + 500,
      })
      expect((await store.leases.attemptsOf(jobs[0]!.id))[0]).toMatchObject({ startedAt: 2500 })
      expect((await store.leases.attemptsOf(jobs[1]!.id))[0]).toMatchObject({ startedAt: 3000 })
      expect((await store.queue.job(jobs[2]!.id))?.state).toBe('running')
    })

    test('each attempt keeps when it started: a requeued one as it ended, the next from its own start', async () => {
      const job = await store.queue.create(newJob())
      await store.leases.assign(job.id, 'w-bob', 50_000, 2000)
      expect(await store.leases.markRunning(lease(job.id), 'w-bob', 2100)).toBe(true)
      expect(await store.leases.requeue(lease(job.id), 'worker lost', 2200)).toBe('queued')
      await store.leases.assign(job.id, 'w-bob', 50_000, 2300)
      const second = { jobId: job.id, attempt: 2 }
      expect(await store.deadlines.since(lease(job.id))).toBe(2100)
      expect(await store.deadlines.since(second)).toBe(2300)
      expect(await store.leases.markRunning(second, 'w-bob', 2400)).toBe(true)
      expect(await store.deadlines.since(second)).toBe(2400)
      expect(await store.leases.finish(second, 'w-bob', ok(0, 2500))).toBe(true)
      expect(
        (await store.leases.attemptsOf(job.id)).map((a) => [a.attempt, a.assignedAt, a.startedAt, a.endedAt]),
      ).toEqual([
        [1, 2000, 2100, 2200],
        [2, 2300, 2400, 2500],
      ])
      expect(await store.deadlines.since(second)).toBe(2400)
    })

    test('extendLeases gives live leases and deadlines the time the coordinator was down', async () => {
      const job = await store.queue.create(newJob({ timeoutMs: 100 }))
      await store.leases.assign(job.id, 'w-bob', 500, 400, 10)
      expect(await store.leases.extendLeases(9000, 8000, { deadlineGraceMs: 5, startAllowanceMs: 10 })).toBe(
        1,
      )
      expect(await store.queue.job(job.id)).toMatchObject({ leaseExpiresAt: 9000, deadlineAt: 9000 })
      expect(await store.leases.expired(9001)).toHaveLength(1)
    })
  })
})

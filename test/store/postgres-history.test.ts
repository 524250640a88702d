import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'
import { newJob, paid, seed } from '../support/store-fixtures'

// History pages go by `transfers.seq`, a number taken at insert, not at commit. Two transactions on
// one user's ledger that commit in the other order than they took their numbers would let a reader
// paging with `beforeSeq` step over the later-committed, lower-numbered line for good.

let url: string
let store: Store
let gate: SQL

beforeAll(async () => {
  url = await freshDatabase()
  store = await seed(await openPostgres(url))
  gate = new SQL(url, { max: 1 })
  // A test-only trigger holds a payment's transaction open after its line took its number, for as
  // long as the test holds the gate (an advisory lock).
  await gate.unsafe(`CREATE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$`)
  await gate.unsafe(
    `CREATE TRIGGER test_gate AFTER INSERT ON transfers FOR EACH ROW WHEN (NEW.kind = 'pay') EXECUTE FUNCTION test_gate()`,
  )
})
afterAll(async () => {
  await gate.close()
  await store.close()
})

/** Waits until some backend of this database waits on a lock of this kind (`advisory`, or a row's). */
async function waitingOn(kind: 'advisory' | 'row', done: () => boolean = () => false): Promise<void> {
  for (let i = 0; i < 600 && !done(); i++) {
    const rows: { n: string }[] = await gate`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND (wait_event = 'advisory') = ${kind === 'advisory'}`
    if (Number(rows[0]?.n) > 0) return
    await Bun.sleep(50)
  }
}

describe('postgres: history paging under concurrent commits', () => {
  test('a line committed late never falls between pages a reader already walked', async () => {
    const job = await store.queue.create(newJob({ maxCost: 1000 }))
    await store.leases.assign(job.id, 'w-bob', 99_999, 2000)
    await gate`SELECT pg_advisory_lock(4242)`
    // The whole escrow is paid (nothing to release): the payment moves alice's escrow only, not her balance.
    const finishing = store.leases.finish({ jobId: job.id, attempt: 1 }, 'w-bob', paid(1000))
    await waitingOn('advisory')
    let granted = false
    const granting = store.credits.grant('alice', 5, 'late', 6000).then(() => (granted = true))
    // Either the grant commits past the held payment, or it waits for it: go on once either is so.
    await waitingOn('row', () => granted)
    const first = (await store.credits.of('u-alice', 2)).history
    await gate`SELECT pg_advisory_unlock(4242)`
    await Promise.all([finishing, granting])
    const older = (await store.credits.of('u-alice', 10, first.at(-1)!.seq)).history
    const newer = (await store.credits.of('u-alice', 10)).history.filter((h) => h.seq > first[0]!.seq)
    const all = (await store.credits.of('u-alice', 100)).history
    const walked = [...newer, ...first, ...older].map((h) => h.seq)
    expect(walked).toEqual(all.map((h) => h.seq))
    expect(all.map((h) => h.kind)).toEqual(['grant', 'pay', 'grant'])
  })
})

import type { Ending, NewJob, Store } from '../../src/coordinator/store/types'
import { openPostgres } from '../../src/coordinator/store/postgres'
import { freshDatabase } from '../support/postgres'

/** Millicredits each test user starts with. */
export const GRANT = 10_000

let seq = 0

/** A new job of alice's (override what a test needs). */
export function newJob(over: Partial<NewJob> = {}): NewJob {
  seq++
  return {
    id: `job-${seq}`,
    ownerId: 'u-alice',
    image: 'python:3.12-slim',
    command: ['python3', 'job.py'],
    scriptName: 'job.py',
    script: Buffer.from('print("hi")\n'),
    maxCost: 0,
    args: ['--n', '3'],
    timeoutMs: 60_000,
    cpus: 1,
    memoryBytes: 512 * 1024 ** 2,
    maxAttempts: 3,
    createdAt: 1000 + seq,
    ...over,
  }
}

/** A clean exit at `at`, costing `cost`. */
export const ok = (cost = 0, at = 5000): Ending => ({
  state: 'succeeded',
  exitCode: 0,
  outcome: 'exited',
  error: null,
  at,
  cost,
  billedMs: 1000,
})

/** A store on a new database with alice (the operator) and bob, each granted `GRANT`, and bob's worker w-bob. */
export async function seeded(): Promise<{ url: string; store: Store }> {
  const url = await freshDatabase()
  const store = await openPostgres(url)
  await store.accounts.create(
    { id: 'u-alice', name: 'alice', passwordHash: 'h', createdAt: 1 },
    { signup: 'open', grant: GRANT },
  )
  await store.accounts.create(
    { id: 'u-bob', name: 'bob', passwordHash: 'h', createdAt: 2 },
    { signup: 'open', grant: GRANT },
  )
  await store.workers.upsert('w-bob', 'u-bob', 'bobs-box', 3, 'key-bob')
  return { url, store }
}

/** What a promise rejects with (it must reject: a fulfilled one fails the test). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => {
      throw new Error('expected a rejection, got a result')
    },
    (err: unknown) => err,
  )
}
